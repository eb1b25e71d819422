import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { sweep } from "../../src/reliability/sweeper";
import { ADMIN_KEY, api, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

/**
 * What fails right now: D1 statements whose SQL the predicate picks (the
 * messages are D1's own when it is overloaded), and queue sends.
 */
interface Faults {
	d1: ((sql: string) => boolean) | null;
	queue: boolean;
}

const OVERLOADED = "D1_ERROR: D1 DB is overloaded. Requests queued for too long.";

/**
 * The real database, except that while `faults.d1` picks a statement it
 * fails, alone or in a batch (a batch is one transaction: all of it fails).
 * Statements are the real database's own, so its batch() accepts them.
 */
function faultyD1(real: D1Database, faults: Faults): D1Database {
	const sqlOf = new WeakMap<D1PreparedStatement, string>();
	const realOf = new WeakMap<D1PreparedStatement, D1PreparedStatement>();
	const fails = (sql: string) => faults.d1?.(sql) ?? false;
	const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement => {
		const proxy = new Proxy(statement, {
			get(target, property) {
				if (property === "bind") {
					return (...values: unknown[]) => wrap(target.bind(...values), sql);
				}
				const value: unknown = Reflect.get(target, property, target);
				if (typeof value !== "function") return value;
				return (...args: unknown[]) => {
					if (fails(sql)) return Promise.reject(new Error(OVERLOADED));
					return (value as (...inner: unknown[]) => unknown).apply(target, args);
				};
			},
		});
		sqlOf.set(proxy, sql);
		realOf.set(proxy, statement);
		return proxy;
	};
	return new Proxy(real, {
		get(target, property) {
			if (property === "prepare") return (sql: string) => wrap(target.prepare(sql), sql);
			if (property === "batch") {
				return (statements: D1PreparedStatement[]) => {
					if (statements.some((statement) => fails(sqlOf.get(statement) ?? ""))) {
						return Promise.reject(new Error(OVERLOADED));
					}
					return target.batch(statements.map((statement) => realOf.get(statement) ?? statement));
				};
			}
			const value: unknown = Reflect.get(target, property, target);
			return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
		},
	});
}

function faultyQueue(real: Queue, faults: Faults): Queue {
	const refuse = () => Promise.reject(new Error("Queue send failed: service unavailable"));
	return {
		metrics: () => real.metrics(),
		send: (message, options) => (faults.queue ? refuse() : real.send(message, options)),
		sendBatch: (messages, options) => (faults.queue ? refuse() : real.sendBatch(messages, options)),
	};
}

const any = () => true;
const deletes = (sql: string) => /^\s*delete/i.test(sql);

describe("ingest while D1 or the queue fails", () => {
	it("answers every request 202 or 503 with Retry-After, stores nothing it refused and delivers everything it accepted", async () => {
		const name = uniqueName("faults");
		const type = `fault.${uniqueName("t").replaceAll("-", "_")}`;
		await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("fault-tenant") } })).body);

		const faults: Faults = { d1: null, queue: false };
		const faultyEnv: Env = {
			...env,
			DB: faultyD1(env.DB, faults),
			DELIVERY_QUEUE: faultyQueue(env.DELIVERY_QUEUE, faults),
		};
		// Windows of the run, by request number: each a way the platform fails under ingest.
		const windows: { from: number; to: number; d1: Faults["d1"]; queue: boolean }[] = [
			{ from: 10, to: 20, d1: any, queue: false },
			{ from: 30, to: 40, d1: null, queue: true },
			{ from: 45, to: 50, d1: any, queue: true },
			// The queue refuses the jobs and D1 then refuses to take the events back: they stay, for the sweeper.
			{ from: 50, to: 55, d1: deletes, queue: true },
		];
		const answers: { id: string; status: number; retryAfter: string | null; code: unknown }[] = [];
		for (let index = 0; index < 60; index++) {
			const window = windows.find((candidate) => index >= candidate.from && index < candidate.to);
			faults.d1 = window?.d1 ?? null;
			faults.queue = window?.queue ?? false;
			const id = `${name}-${index}`;
			// Every fifth request names another tenant, whose lookup goes to the control data in D1.
			const otherTenant = index % 5 === 4;
			const ctx = createExecutionContext();
			const response = await worker.fetch(
				new Request("http://edgehook.test/v1/events", {
					method: "POST",
					headers: {
						authorization: `Bearer ${ADMIN_KEY}`,
						"content-type": "application/json",
						...(otherTenant ? { "x-tenant-id": String(tenant.id) } : {}),
					},
					body: JSON.stringify({ type, id, data: { index } }),
				}),
				faultyEnv,
				ctx,
			);
			await waitOnExecutionContext(ctx);
			const body = record(await response.json());
			answers.push({
				id,
				status: response.status,
				retryAfter: response.headers.get("retry-after"),
				code: response.status === 202 ? null : record(body.error).code,
			});
		}
		faults.d1 = null;
		faults.queue = false;

		expect(answers.filter((answer) => answer.status !== 202 && answer.status !== 503)).toEqual([]);
		const refused = answers.filter((answer) => answer.status === 503);
		expect(refused.every((answer) => answer.retryAfter === "5" && answer.code === "unavailable")).toBe(true);
		// Every request of the first three windows was refused, and none outside them, except that an
		// event nobody subscribes to (the other tenant's) needs no queue and is accepted while it fails.
		const queueOnly = (index: number) => index >= 30 && index < 40;
		const expectedRefused = [10, 30, 45].flatMap((from) =>
			Array.from({ length: from === 45 ? 5 : 10 }, (_, offset) => from + offset),
		);
		expect(refused.map((answer) => Number(answer.id.split("-").at(-1)))).toEqual(
			expectedRefused.filter((index) => !(queueOnly(index) && index % 5 === 4)),
		);
		const stored = new Set(
			(
				await env.DB.prepare("SELECT id FROM events WHERE id LIKE ?").bind(`${name}-%`).all<{ id: string }>()
			).results.map((row) => row.id),
		);
		const accepted = answers.filter((answer) => answer.status === 202).map((answer) => answer.id);
		expect(accepted).toHaveLength(37);
		expect([...stored].sort()).toEqual([...accepted].sort());

		// The five whose jobs were lost are sent by the sweeper, as it sends any first attempt that never came.
		await sweep(env, Date.now() + 10 * 60_000);
		// The other tenant has no endpoints; every event the default tenant got accepted arrives.
		const expected = accepted.filter((id) => Number(id.split("-").at(-1)) % 5 !== 4);
		await waitFor(async () => {
			const arrived = new Set((await receivedBy(name)).map((request) => request.headers["webhook-id"]));
			return expected.every((id) => arrived.has(id)) ? true : undefined;
		}, 15_000);
	});
});
