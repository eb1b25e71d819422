import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { buildCorpus, type Case, type Corpus, casesFoundValid, ERROR_STATUSES } from "./corpus/cases";
import { isRecord, operations } from "./corpus/schema";
import { describeOutcome, type Outcome, sendCase, ZOD_WORDING } from "./corpus/send";
import { api, record } from "./helpers";

/*
 * A bad-input corpus generated from docs/openapi.json and sent to every
 * operation with the admin key (which is not rate limited). Every case is
 * invalid by construction (checked locally before anything is sent), so
 * every answer must be a 4xx JSON error and nothing may be stored.
 */

const TABLES = ["tenants", "api_keys", "endpoints", "events", "deliveries", "event_types", "templates"] as const;
type Counts = Record<(typeof TABLES)[number], number>;

async function countRows(): Promise<Counts> {
	const results = await env.DB.batch<{ n: number }>(
		TABLES.map((table) => env.DB.prepare(`SELECT count(*) AS n FROM ${table}`)),
	);
	return Object.fromEntries(TABLES.map((table, index) => [table, results[index]?.results[0]?.n ?? -1])) as Counts;
}

function rowsAdded(before: Counts, after: Counts): number {
	return TABLES.reduce((total, table) => total + Math.max(0, after[table] - before[table]), 0);
}

/** What is wrong with an answer to a bad input; empty when it is a proper refusal. */
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
	const error = isRecord(body) ? body.error : undefined;
	if (
		!isRecord(error) ||
		typeof error.code !== "string" ||
		typeof error.message !== "string" ||
		!("details" in error)
	) {
		return [...problems, `not the error envelope: ${text.slice(0, 200)}`];
	}
	if (ZOD_WORDING.test(error.message)) problems.push(`message in Zod's words: ${error.message.slice(0, 300)}`);
	if (status === 422) {
		if (error.code !== "validation_failed") problems.push(`422 with code ${error.code}`);
		const details = error.details;
		if (!Array.isArray(details) || details.length === 0) problems.push(`422 without details: ${text.slice(0, 300)}`);
		else {
			for (const detail of details) {
				if (
					!isRecord(detail) ||
					typeof detail.field !== "string" ||
					detail.field === "" ||
					typeof detail.message !== "string" ||
					detail.message === ""
				)
					problems.push(`detail is not {field, message}: ${JSON.stringify(detail).slice(0, 200)}`);
				else if (ZOD_WORDING.test(detail.message))
					problems.push(`detail in Zod's words: ${detail.field}: ${detail.message.slice(0, 200)}`);
			}
		}
	}
	return problems;
}

const OPERATIONS = operations();

describe("bad-input corpus generated from docs/openapi.json", () => {
	let corpus: Corpus;
	let countsAfterSetup: Counts;
	let fingerprint: string;
	let webhookId: string;
	let tenantId: string;
	let eventTypeName: string;
	const outcomes: Outcome[] = [];
	let rowsStored = 0;

	/** The rows the corpus aims body mutations at: they must not change either. */
	async function resourceFingerprint(): Promise<string> {
		const endpoint = await env.DB.prepare("SELECT * FROM endpoints WHERE id = ?").bind(webhookId).first();
		const tenant = await env.DB.prepare("SELECT * FROM tenants WHERE id = ?").bind(tenantId).first();
		const eventType = await env.DB.prepare("SELECT * FROM event_types WHERE name = ?").bind(eventTypeName).first();
		return JSON.stringify({ endpoint, tenant, eventType });
	}

	beforeAll(async () => {
		const webhook = await api("POST", "/v1/webhooks", {
			body: { url: "https://example.com/hook", events: ["corpus.created"] },
		});
		expect(webhook.status).toBe(201);
		webhookId = String(record(webhook.body).id);
		const tenant = await api("POST", "/v1/tenants", { body: { name: "Bad-input corpus" } });
		expect(tenant.status).toBe(201);
		tenantId = String(record(tenant.body).id);
		eventTypeName = "corpus.created";
		const eventType = await api("POST", "/v1/event-types", {
			body: { name: eventTypeName, description: "Corpus", example: { corpus: true } },
		});
		expect([201, 409]).toContain(eventType.status);
		const catalogType = await api("PUT", `/v1/catalog/event-types/${eventTypeName}`, {
			body: { description: "Corpus" },
		});
		expect([200, 201]).toContain(catalogType.status);

		const started = Date.now();
		corpus = buildCorpus(OPERATIONS, {
			"PATCH /v1/webhooks/{id}": { id: webhookId },
			"POST /v1/webhooks/{id}/recover": { id: webhookId },
			"POST /v1/webhooks/{id}/rotate-secret": { id: webhookId },
			"GET /v1/webhooks/{id}/deliveries": { id: webhookId },
			"GET /v1/webhooks/{id}/stats": { id: webhookId },
			"POST /v1/webhooks/{id}/test": { id: webhookId },
			"POST /v1/webhooks/{id}/transformation/test": { id: webhookId },
			"PUT /v1/templates/{channel}/{event_type}": { channel: "slack", event_type: eventTypeName },
			"PATCH /v1/event-types/{name}": { name: eventTypeName },
			"PUT /v1/catalog/event-types/{name}": { name: eventTypeName },
			"PATCH /v1/catalog/event-types/{name}": { name: eventTypeName },
			"PATCH /v1/tenants/{id}": { id: tenantId },
			"POST /v1/tenants/{id}/api-keys": { id: tenantId },
			"GET /v1/tenants/{id}/api-keys": { id: tenantId },
			"POST /v1/tenants/{id}/portal-links": { id: tenantId },
		});
		console.log(`bad-input corpus built in ${Date.now() - started} ms`);
		countsAfterSetup = await countRows();
		fingerprint = await resourceFingerprint();
	});

	it("holds only cases that are invalid by construction", () => {
		expect(corpus.notInvalid, "fixed cases the local rules find valid: fix the generator").toEqual([]);
		expect(casesFoundValid(OPERATIONS, corpus)).toEqual([]);
		expect(new Set(corpus.cases.map((c) => c.operation)).size).toBe(OPERATIONS.length);
	});

	it.each(OPERATIONS.map((operation) => operation.key))(
		"%s refuses every bad input with a 4xx JSON error and stores nothing",
		async (key) => {
			const cases = corpus.cases.filter((c) => c.operation === key);
			expect(cases.length).toBeGreaterThan(0);
			const before = await countRows();
			const results: Outcome[] = [];
			for (const c of cases) results.push(await sendCase(c, judge));
			const after = await countRows();
			outcomes.push(...results);
			rowsStored += rowsAdded(before, after);
			expect(results.filter((outcome) => outcome.problems.length > 0).map(describeOutcome)).toEqual([]);
			expect(after).toEqual(before);
		},
		60_000,
	);

	it("summary: no 5xx, no rows stored, resources unchanged", async () => {
		const after = await countRows();
		rowsStored = Math.max(rowsStored, rowsAdded(countsAfterSetup, after));
		const serverErrors = outcomes.filter((outcome) => outcome.status >= 500 || outcome.status === 0);
		const operationCount = new Set(outcomes.map((outcome) => outcome.operation)).size;
		console.log(
			`bad-input corpus: ${outcomes.length} cases over ${operationCount} operations, 5xx: ${serverErrors.length}, rows stored: ${rowsStored} (random values dropped as valid: ${corpus.dropped})`,
		);
		expect(serverErrors.map(describeOutcome), "requests answered with a 5xx (or that threw)").toEqual([]);
		expect(rowsStored).toBe(0);
		expect(after).toEqual(countsAfterSetup);
		expect(await resourceFingerprint()).toBe(fingerprint);
		expect(operationCount).toBe(OPERATIONS.length);
		expect(outcomes.length).toBe(corpus.cases.length);
	});
});
