import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { deliveryId } from "../../src/lib/ids";
import { firstAttemptBacklog } from "../../src/reliability/first-attempt-backlog";
import { api, record } from "./helpers";

const db = () => openDatabase(env.SHARD_3);
const ENDPOINT = "hook_backlogtest000000";
const NOW = Date.now();

interface Stored {
	seq: number;
	createdAt: number;
	delivered: boolean;
	endpointIds?: string[];
	deliverAt?: number;
}

/** Events on SHARD_3 with exactly the seqs, times and first attempts a case needs. */
async function store(rows: readonly Stored[]): Promise<void> {
	const statements = rows.flatMap((row) => {
		const endpointIds = row.endpointIds ?? [ENDPOINT];
		const event = env.SHARD_3.prepare(
			"INSERT INTO events (seq, tenant_id, id, type, data, endpoint_ids, created_at, deliver_at) VALUES (?, 'backlog-tenant', ?, 'backlog.test', '{}', ?, ?, ?)",
		).bind(row.seq, `evt_backlog_${row.seq}`, JSON.stringify(endpointIds), row.createdAt, row.deliverAt ?? null);
		if (!row.delivered) return [event];
		return [
			event,
			env.SHARD_3.prepare(
				"INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at) VALUES (?, 'backlog-tenant', ?, ?, 'backlog.test', 'success', 1, '[]', ?, ?)",
			).bind(deliveryId(ENDPOINT, row.seq), ENDPOINT, `evt_backlog_${row.seq}`, row.createdAt, row.createdAt),
		];
	});
	for (let index = 0; index < statements.length; index += 50)
		await env.SHARD_3.batch(statements.slice(index, index + 50));
}

/** `count` events one second apart, ending 1000 s before NOW; the first `delivered` have their first attempt. */
function inOrder(count: number, delivered: number, seqStep = 1): Stored[] {
	return Array.from({ length: count }, (_, index) => ({
		seq: 1 + index * seqStep,
		createdAt: NOW - (count - index) * 1000 - 1_000_000,
		delivered: index < delivered,
	}));
}

describe("a shard's first-attempt backlog", () => {
	beforeEach(async () => {
		await env.SHARD_3.batch([env.SHARD_3.prepare("DELETE FROM events"), env.SHARD_3.prepare("DELETE FROM deliveries")]);
	});

	it("is null for a shard without events", async () => {
		expect(await firstAttemptBacklog(db(), NOW)).toEqual({ oldestWaitingAgeSeconds: null, waitingEventsAtMost: 0 });
	});

	it("is 0 when the newest event has its first attempt", async () => {
		await store(inOrder(50, 50));
		expect(await firstAttemptBacklog(db(), NOW)).toEqual({ oldestWaitingAgeSeconds: 0, waitingEventsAtMost: 0 });
	});

	it("finds the oldest event without a first attempt, and how many came after it", async () => {
		const rows = inOrder(1000, 600);
		await store(rows);
		const oldestWaiting = rows[600];
		expect(oldestWaiting?.delivered).toBe(false);
		expect(await firstAttemptBacklog(db(), NOW)).toEqual({
			oldestWaitingAgeSeconds: Math.round((NOW - (oldestWaiting?.createdAt ?? 0)) / 1000),
			waitingEventsAtMost: 400,
		});
	});

	it("counts the whole shard when no event has its first attempt", async () => {
		const rows = inOrder(300, 0);
		await store(rows);
		const result = await firstAttemptBacklog(db(), NOW);
		expect(result.oldestWaitingAgeSeconds).toBe(Math.round((NOW - (rows[0]?.createdAt ?? 0)) / 1000));
		expect(result.waitingEventsAtMost).toBe(300);
	});

	it("steps over gaps in the seqs (purged events) without losing the boundary", async () => {
		const rows = inOrder(400, 123, 7);
		await store(rows);
		const oldestWaiting = rows[123];
		const result = await firstAttemptBacklog(db(), NOW);
		expect(result.oldestWaitingAgeSeconds).toBe(Math.round((NOW - (oldestWaiting?.createdAt ?? 0)) / 1000));
		expect(result.waitingEventsAtMost).toBe((rows[399]?.seq ?? 0) - (oldestWaiting?.seq ?? 0) + 1);
	});

	it("owes nothing for an event fanned out to no one or scheduled for later", async () => {
		await store([
			...inOrder(20, 20),
			{ seq: 100, createdAt: NOW - 5000, delivered: false, endpointIds: [] },
			{ seq: 101, createdAt: NOW - 4000, delivered: false, deliverAt: NOW + 3_600_000 },
		]);
		expect(await firstAttemptBacklog(db(), NOW)).toEqual({ oldestWaitingAgeSeconds: 0, waitingEventsAtMost: 0 });
	});

	it("counts a scheduled event's wait from its due time, not its creation", async () => {
		await store([
			...inOrder(20, 20),
			{ seq: 100, createdAt: NOW - 20 * 24 * 3600 * 1000, delivered: false, deliverAt: NOW - 30_000 },
		]);
		expect(await firstAttemptBacklog(db(), NOW)).toEqual({ oldestWaitingAgeSeconds: 30, waitingEventsAtMost: 1 });
	});

	it("shows in GET /v1/health per database, and past MAX_BACKLOG_AGE_SECONDS makes it degraded", async () => {
		const rows = inOrder(100, 40);
		await store(rows);
		const health = record((await api("GET", "/v1/health")).body);
		const shard3 = (health.shards as Record<string, unknown>[]).find((shard) => shard.database === "SHARD_3");
		const waiting = record(shard3?.first_attempts_waiting);
		// Stored a thousand seconds and more ago: past the 900 s bound.
		expect(Number(waiting.oldest_age_seconds)).toBeGreaterThan(900);
		expect(waiting.events_at_most).toBe(60);
		expect(health.status).toBe("degraded");
		expect(health.problems).toContainEqual(
			expect.stringMatching(
				/^SHARD_3: its oldest event without a first attempt has waited \d+ s, over the backlog bound of 900 s$/,
			),
		);
	});
});
