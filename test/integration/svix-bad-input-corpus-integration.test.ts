import { beforeAll, describe, expect, it } from "vitest";
import svixDescription from "../../docs/svix-openapi.json";
import { buildCorpus, type Case, type Corpus, casesFoundValid, ERROR_STATUSES } from "./corpus/cases";
import { isRecord, operations, useDocument } from "./corpus/schema";
import { describeOutcome, type Outcome, sendCase, ZOD_WORDING } from "./corpus/send";
import { api, record, SHARDS, uniqueName, waitFor } from "./helpers";

/*
 * The bad-input corpus of the Svix face: the same generator as the native
 * one (corpus/), built from docs/svix-openapi.json and sent with the admin
 * key. Every case is invalid by construction, so every answer must be a
 * 4xx in Svix's error shapes ({code, detail}, or 422 {detail: [{loc, msg,
 * type}]}) and nothing may be stored, on any database.
 */

useDocument(svixDescription);

const TABLES = [
	"tenants",
	"tenant_uids",
	"api_keys",
	"endpoints",
	"events",
	"deliveries",
	"event_types",
	"catalog_event_types",
	"idempotency_records",
	"tasks",
	"templates",
] as const;

async function countRows(): Promise<string> {
	const counts: Record<string, number> = {};
	for (const [name, database] of Object.entries(SHARDS)) {
		const results = await database.batch<{ n: number }>(
			TABLES.map((table) => database.prepare(`SELECT count(*) AS n FROM ${table}`)),
		);
		TABLES.forEach((table, index) => {
			counts[`${name}.${table}`] = results[index]?.results[0]?.n ?? -1;
		});
	}
	return JSON.stringify(counts);
}

/** What is wrong with an answer to a bad input, in Svix's terms; empty when it is a proper refusal. */
function judge(c: Case, status: number, contentType: string, text: string): string[] {
	const problems: string[] = [];
	const allowed: readonly number[] = c.allowed ?? ERROR_STATUSES;
	if (!allowed.includes(status)) problems.push(`status ${status}, expected one of ${allowed.join(", ")}`);
	if (!contentType.includes("application/json")) problems.push(`Content-Type ${contentType}`);
	let body: unknown;
	try {
		body = JSON.parse(text);
	} catch {
		return [...problems, `not JSON: ${text.slice(0, 200)}`];
	}
	if (!isRecord(body)) return [...problems, `not an object: ${text.slice(0, 200)}`];
	if (status === 422) {
		const detail = body.detail;
		if (!Array.isArray(detail) || detail.length === 0)
			return [...problems, `422 without detail: ${text.slice(0, 300)}`];
		for (const item of detail) {
			if (
				!isRecord(item) ||
				!Array.isArray(item.loc) ||
				item.loc.length === 0 ||
				!item.loc.every((part) => typeof part === "string") ||
				typeof item.msg !== "string" ||
				item.msg === "" ||
				typeof item.type !== "string"
			)
				problems.push(`detail is not {loc, msg, type}: ${JSON.stringify(item).slice(0, 200)}`);
			else if (ZOD_WORDING.test(item.msg)) problems.push(`detail in Zod's words: ${item.msg.slice(0, 200)}`);
		}
		return problems;
	}
	if (typeof body.code !== "string" || typeof body.detail !== "string") {
		return [...problems, `not Svix's {code, detail}: ${text.slice(0, 200)}`];
	}
	if (ZOD_WORDING.test(body.detail)) problems.push(`detail in Zod's words: ${body.detail.slice(0, 300)}`);
	return problems;
}

const OPERATIONS = operations();

describe("bad-input corpus generated from docs/svix-openapi.json", () => {
	let corpus: Corpus;
	let countsAfterSetup: string;
	const outcomes: Outcome[] = [];

	beforeAll(async () => {
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("svix-corpus") } })).body);
		const appId = String(tenant.id);
		const asTenant = { headers: { "x-tenant-id": appId } };
		const endpoint = record(
			(await api("POST", `/api/v1/app/${appId}/endpoint`, { body: { url: "https://example.com/svix-corpus" } })).body,
		);
		const event = record(
			(await api("POST", "/v1/events", { ...asTenant, body: { type: "corpus.created", data: { corpus: true } } })).body,
		);
		const delivery = await waitFor(async () => {
			const list = record((await api("GET", `/v1/webhooks/${endpoint.id}/deliveries`, asTenant)).body);
			const rows = list.deliveries as Record<string, unknown>[];
			return rows.length > 0 && rows[0]?.attempt_count !== 0 ? rows[0] : undefined;
		}, 15_000);
		const attempts = record((await api("GET", `/v1/deliveries/${delivery.id}`, asTenant)).body).attempts as Record<
			string,
			unknown
		>[];
		const since = new Date(Date.now() - 60 * 60 * 1000).toISOString();
		const task = record(
			(await api("POST", `/api/v1/app/${appId}/endpoint/${endpoint.id}/recover`, { body: { since } })).body,
		);
		const eventTypeName = "svix-corpus.created";
		const eventType = await api("POST", "/api/v1/event-type", {
			body: { name: eventTypeName, description: "The Svix corpus's event type" },
		});
		const known: Record<string, string> = {
			app_id: appId,
			endpoint_id: String(endpoint.id),
			msg_id: String(event.id),
			attempt_id: String(attempts[0]?.id),
			task_id: String(task.id),
			event_type_name: eventTypeName,
		};
		// Before the catalog routes are part of the face, their fixture is not needed.
		if (eventType.status !== 201 && eventType.status !== 409) delete known.event_type_name;
		const existing = Object.fromEntries(
			OPERATIONS.map((operation) => [
				operation.key,
				Object.fromEntries(
					operation.parameters
						.filter((parameter) => parameter.in === "path" && known[parameter.name] !== undefined)
						.map((parameter) => [parameter.name, known[parameter.name] ?? ""]),
				),
			]),
		);
		corpus = buildCorpus(OPERATIONS, existing);
		countsAfterSetup = await countRows();
	}, 60_000);

	it("holds only cases that are invalid by construction", () => {
		expect(corpus.notInvalid, "fixed cases the local rules find valid: fix the generator").toEqual([]);
		expect(casesFoundValid(OPERATIONS, corpus)).toEqual([]);
		expect(new Set(corpus.cases.map((c) => c.operation)).size).toBe(OPERATIONS.length);
	});

	it.each(OPERATIONS.map((operation) => operation.key))(
		"%s refuses every bad input with a 4xx in Svix's shapes and stores nothing",
		async (key) => {
			const cases = corpus.cases.filter((c) => c.operation === key);
			expect(cases.length).toBeGreaterThan(0);
			const before = await countRows();
			const results: Outcome[] = [];
			for (const c of cases) results.push(await sendCase(c, judge));
			outcomes.push(...results);
			expect(results.filter((outcome) => outcome.problems.length > 0).map(describeOutcome)).toEqual([]);
			expect(await countRows()).toBe(before);
		},
		120_000,
	);

	it("summary: no 5xx, no rows stored", async () => {
		const serverErrors = outcomes.filter((outcome) => outcome.status >= 500 || outcome.status === 0);
		const operationCount = new Set(outcomes.map((outcome) => outcome.operation)).size;
		console.log(
			`Svix bad-input corpus: ${outcomes.length} cases over ${operationCount} operations, 5xx: ${serverErrors.length} (random values dropped as valid: ${corpus.dropped})`,
		);
		expect(serverErrors.map(describeOutcome), "requests answered with a 5xx (or that threw)").toEqual([]);
		expect(await countRows()).toBe(countsAfterSetup);
		expect(operationCount).toBe(OPERATIONS.length);
		expect(outcomes.length).toBe(corpus.cases.length);
	});
});
