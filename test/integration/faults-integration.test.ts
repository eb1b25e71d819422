import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { forgetTenantPlacement } from "../../src/db/tenant-database";
import worker from "../../src/index";
import type { DeliveryJob } from "../../src/queue/messages";
import { sweep } from "../../src/reliability/sweeper";
import {
	ADMIN_KEY,
	api,
	createWebhook,
	receivedBy,
	receiverPath,
	record,
	storeEventDirectly,
	uniqueName,
	waitFor,
} from "./helpers";

type Shard = "DB" | "SHARD_2";

/**
 * What fails right now: per database, the D1 statements whose SQL the
 * predicate picks (the messages are D1's own when it is overloaded), and
 * queue sends. DB is the control database and the default tenant's shard.
 */
interface Faults {
	d1: Partial<Record<Shard, (sql: string) => boolean>>;
	queue: boolean;
}

const OVERLOADED = "D1_ERROR: D1 DB is overloaded. Requests queued for too long.";

/**
 * The real database, except that while `faults.d1` picks a statement it
 * fails, alone or in a batch (a batch is one transaction: all of it fails).
 * Statements are the real database's own, so its batch() accepts them.
 */
function faultyD1(real: D1Database, shard: Shard, faults: Faults): D1Database {
	const sqlOf = new WeakMap<D1PreparedStatement, string>();
	const realOf = new WeakMap<D1PreparedStatement, D1PreparedStatement>();
	const fails = (sql: string) => faults.d1[shard]?.(sql) ?? false;
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
		const createOn = async (shard: string) =>
			String(record((await api("POST", "/v1/tenants", { body: { name: uniqueName("fault-tenant"), shard } })).body).id);
		// Another tenant on another shard, and a newcomer this isolate has never looked up.
		const other = await createOn("SHARD_2");
		const newcomer = await createOn("SHARD_3");

		const faults: Faults = { d1: {}, queue: false };
		const faultyEnv: Env = Object.assign({}, env, {
			DB: faultyD1(env.DB, "DB", faults),
			SHARD_2: faultyD1(env.SHARD_2, "SHARD_2", faults),
			DELIVERY_QUEUE: faultyQueue(env.DELIVERY_QUEUE, faults),
		});
		// Windows of the run, by request number: each a way the platform fails under ingest.
		const windows: { from: number; to: number; d1: Faults["d1"]; queue: boolean }[] = [
			// The control database and the default tenant's shard.
			{ from: 10, to: 20, d1: { DB: any }, queue: false },
			// The other tenant's shard alone.
			{ from: 20, to: 30, d1: { SHARD_2: any }, queue: false },
			{ from: 30, to: 40, d1: {}, queue: true },
			{ from: 45, to: 50, d1: { DB: any }, queue: true },
			// The queue refuses the jobs and D1 then refuses to take the events back: they stay, for the sweeper.
			{ from: 50, to: 55, d1: { DB: deletes }, queue: true },
		];
		const send = async (id: string, index: number, tenantId: string | null) => {
			const ctx = createExecutionContext();
			const response = await worker.fetch(
				new Request("http://edgehook.test/v1/events", {
					method: "POST",
					headers: {
						authorization: `Bearer ${ADMIN_KEY}`,
						"content-type": "application/json",
						...(tenantId === null ? {} : { "x-tenant-id": tenantId }),
					},
					body: JSON.stringify({ type, id, data: { index } }),
				}),
				faultyEnv,
				ctx,
			);
			await waitOnExecutionContext(ctx);
			const body = record(await response.json());
			return {
				id,
				status: response.status,
				retryAfter: response.headers.get("retry-after"),
				code: response.status === 202 ? null : record(body.error).code,
			};
		};
		const answers: Awaited<ReturnType<typeof send>>[] = [];
		const newcomerAnswers: Awaited<ReturnType<typeof send>>[] = [];
		for (let index = 0; index < 60; index++) {
			const window = windows.find((candidate) => index >= candidate.from && index < candidate.to);
			faults.d1 = window?.d1 ?? {};
			faults.queue = window?.queue ?? false;
			// Every fifth request is the other tenant's: its placement was looked up at request 4, before
			// any fault, and this isolate trusts it for PLACEMENT_CACHE_SECONDS, so the control
			// database failing does not stop it.
			answers.push(await send(`${name}-${index}`, index, index % 5 === 4 ? other : null));
			// The newcomer's placement is not known yet while the control database fails: refused; later, accepted.
			if (index === 12 || index === 25) newcomerAnswers.push(await send(`${name}-new-${index}`, index, newcomer));
		}
		faults.d1 = {};
		faults.queue = false;

		expect(answers.filter((answer) => answer.status !== 202 && answer.status !== 503)).toEqual([]);
		const refused = answers.filter((answer) => answer.status === 503);
		expect(refused.every((answer) => answer.retryAfter === "5" && answer.code === "unavailable")).toBe(true);
		// The default tenant's requests are refused while DB or the queue fails; the other tenant's only
		// while its own shard fails: it has no endpoints, so it needs no queue. The first request of a
		// queue outage is answered 202: its event is stored, and its first attempt, which leaves after
		// the answer (src/queue/departures.ts), is refused and left to the sweeper. From then on ingest
		// sends before it answers, until the queue takes a send again (request 40).
		const within = (index: number, from: number, to: number) => index >= from && index < to;
		const expectedRefused = Array.from({ length: 60 }, (_, index) => index).filter((index) =>
			index % 5 === 4 ? within(index, 20, 30) : within(index, 10, 20) || within(index, 31, 40) || within(index, 45, 50),
		);
		expect(refused.map((answer) => Number(answer.id.split("-").at(-1)))).toEqual(expectedRefused);
		expect(newcomerAnswers.map((answer) => answer.status)).toEqual([503, 202]);

		const stored = new Set<string>();
		for (const shard of [env.DB, env.SHARD_2, env.SHARD_3]) {
			const rows = await shard.prepare("SELECT id FROM events WHERE id LIKE ?").bind(`${name}-%`).all<{ id: string }>();
			for (const row of rows.results) stored.add(row.id);
		}
		const accepted = [...answers, ...newcomerAnswers]
			.filter((answer) => answer.status === 202)
			.map((answer) => answer.id);
		expect(accepted).toHaveLength(60 - expectedRefused.length + 1);
		expect([...stored].sort()).toEqual([...accepted].sort());

		// Those whose jobs were lost (30 and 50 to 54) are sent by the sweeper, as it sends any first attempt that never came.
		await sweep(env, Date.now() + 10 * 60_000);
		// The other tenants have no endpoints; every event the default tenant got accepted arrives.
		const expected = answers
			.filter((answer, index) => answer.status === 202 && index % 5 !== 4)
			.map((answer) => answer.id);
		await waitFor(async () => {
			const arrived = new Set((await receivedBy(name)).map((request) => request.headers["webhook-id"]));
			return expected.every((id) => arrived.has(id)) ? true : undefined;
		}, 15_000);
	});
});

describe("a shard that fails under the consumer", () => {
	it("holds up only its own tenants' jobs: the other shards' deliveries in the same batch go out and are acked", async () => {
		const healthyName = uniqueName("healthy-shard");
		const healthyHook = await createWebhook({ url: receiverPath("ok", healthyName), events: ["*"] });
		const healthyEvent = await storeEventDirectly("default", "shard.fault", [healthyHook.id]);
		const tenantId = String(
			record((await api("POST", "/v1/tenants", { body: { name: uniqueName("down"), shard: "SHARD_2" } })).body).id,
		);
		const downName = uniqueName("down-shard");
		const downHook = record(
			(
				await api("POST", "/v1/webhooks", {
					headers: { "x-tenant-id": tenantId },
					body: { url: receiverPath("ok", downName), events: ["*"] },
				})
			).body,
		);
		const downEvent = await storeEventDirectly(tenantId, "shard.fault", [downHook.id]);

		const faults: Faults = { d1: { SHARD_2: any }, queue: false };
		const brokenEnv: Env = Object.assign({}, env, { SHARD_2: faultyD1(env.SHARD_2, "SHARD_2", faults) });
		const job = (tenant: string, seq: number, endpointId: unknown): DeliveryJob => ({
			tenantId: tenant,
			eventSeq: seq,
			targets: [{ endpointId: String(endpointId), attempt: 1 }],
			trigger: "initial",
		});
		// The broken shard's job first, so a failure that stopped the batch would also stop the healthy one.
		const batch = createMessageBatch<DeliveryJob>("edgehook-deliveries", [
			{ id: "down", timestamp: new Date(), attempts: 1, body: job(tenantId, downEvent.seq, downHook.id) },
			{ id: "healthy", timestamp: new Date(), attempts: 1, body: job("default", healthyEvent.seq, healthyHook.id) },
		]);
		const ctx = createExecutionContext();
		await worker.queue(batch, brokenEnv);
		const result = await getQueueResult(batch, ctx);
		expect(result.outcome).toBe("ok");
		expect(result.retryMessages.map((message) => message.msgId)).toEqual(["down"]);
		expect(await receivedBy(healthyName)).toHaveLength(1);
		expect(await receivedBy(downName)).toEqual([]);

		// Back up, the retried job delivers.
		const again = createMessageBatch<DeliveryJob>("edgehook-deliveries", [
			{ id: "down", timestamp: new Date(), attempts: 2, body: job(tenantId, downEvent.seq, downHook.id) },
		]);
		await worker.queue(again, env);
		await waitFor(async () => ((await receivedBy(downName)).length === 1 ? true : undefined));
	});
});

describe("the consumer on a cold placement cache", () => {
	it("asks the control database where a batch's tenants are in one statement, not one per tenant", async () => {
		const name = uniqueName("cold-cache");
		const jobs: DeliveryJob[] = [];
		const tenantIds: string[] = [];
		for (const shard of ["SHARD_2", "SHARD_3", "SHARD_2", "SHARD_3", "DB"]) {
			const tenantId = String(
				record((await api("POST", "/v1/tenants", { body: { name: uniqueName("cold"), shard } })).body).id,
			);
			const hook = record(
				(
					await api("POST", "/v1/webhooks", {
						headers: { "x-tenant-id": tenantId },
						body: { url: receiverPath("ok", name), events: ["*"] },
					})
				).body,
			);
			const event = await storeEventDirectly(tenantId, "cold.cache", [hook.id]);
			jobs.push({
				tenantId,
				eventSeq: event.seq,
				targets: [{ endpointId: String(hook.id), attempt: 1 }],
				trigger: "initial",
			});
			tenantIds.push(tenantId);
		}
		for (const tenantId of tenantIds) forgetTenantPlacement(tenantId);

		const placementReads: string[] = [];
		const counting = new Proxy(env.DB, {
			get(target, property) {
				if (property === "prepare") {
					return (query: string) => {
						if (/from "tenants"/i.test(query) && /"shard"/.test(query)) placementReads.push(query);
						return target.prepare(query);
					};
				}
				const value: unknown = Reflect.get(target, property, target);
				return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
			},
		});
		const batch = createMessageBatch<DeliveryJob>(
			"edgehook-deliveries",
			jobs.map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts: 1, body })),
		);
		const ctx = createExecutionContext();
		await worker.queue(batch, Object.assign({}, env, { DB: counting }));
		const result = await getQueueResult(batch, ctx);
		expect(result.retryMessages).toEqual([]);
		expect(placementReads).toHaveLength(1);
		await waitFor(async () => ((await receivedBy(name)).length === 5 ? true : undefined));
	});
});
