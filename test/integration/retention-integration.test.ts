import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";

const DAY_MS = 24 * 3600 * 1000;

describe("retention", () => {
	it("the daily cron removes events and deliveries older than RETENTION_DAYS and keeps the rest, on every shard", async () => {
		const now = Date.now();
		const old = now - 31 * DAY_MS;
		const recent = now - 29 * DAY_MS;
		const shards = [env.DB, env.SHARD_2, env.SHARD_3];
		for (const database of shards) {
			await database.batch([
				database
					.prepare(
						"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES ('default', 'evt_old', 'a', '{}', '[]', ?), ('default', 'evt_recent', 'a', '{}', '[]', ?)",
					)
					.bind(old, recent),
				database
					.prepare(
						`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
				 VALUES ('del_old', 'default', 'hook_x', 'evt_old', 'a', 'success', 1, '[]', ?, ?), ('del_recent', 'default', 'hook_x', 'evt_recent', 'a', 'success', 1, '[]', ?, ?)`,
					)
					.bind(old, old, recent, recent),
			]);
		}
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "17 3 * * *" }), env);
		for (const database of shards) {
			const eventIds = await database
				.prepare("SELECT id FROM events WHERE id IN ('evt_old', 'evt_recent')")
				.all<{ id: string }>();
			expect(eventIds.results.map((row) => row.id)).toEqual(["evt_recent"]);
			const deliveryIds = await database
				.prepare("SELECT id FROM deliveries WHERE id IN ('del_old', 'del_recent')")
				.all<{ id: string }>();
			expect(deliveryIds.results.map((row) => row.id)).toEqual(["del_recent"]);
		}
	});

	it("keeps an event scheduled ahead, and its deliveries, until RETENTION_DAYS after it was due", async () => {
		const now = Date.now();
		const created = now - 31 * DAY_MS;
		const rows: [string, number | null][] = [
			// Scheduled past the cutoff: still to be sent (or just sent), kept.
			["evt_scheduled_ahead", now + DAY_MS],
			["evt_scheduled_recent", now - 29 * DAY_MS],
			// Due before the cutoff as well: gone like any old event.
			["evt_scheduled_long_ago", now - 30.5 * DAY_MS],
		];
		for (const [id, deliverAt] of rows) {
			await env.DB.batch([
				env.DB.prepare(
					"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at, deliver_at) VALUES ('default', ?, 'a', '{}', '[\"hook_x\"]', ?, ?)",
				).bind(id, created, deliverAt),
				env.DB.prepare(
					`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
					 VALUES (?, 'default', 'hook_x', ?, 'a', 'success', 1, '[]', ?, ?)`,
				).bind(`del_${id}`, id, created, created),
			]);
		}
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "17 3 * * *" }), env);
		const kept = await env.DB.prepare("SELECT id FROM events WHERE id LIKE 'evt_scheduled_%' ORDER BY id").all<{
			id: string;
		}>();
		expect(kept.results.map((row) => row.id)).toEqual(["evt_scheduled_ahead", "evt_scheduled_recent"]);
		const keptDeliveries = await env.DB.prepare(
			"SELECT event_id FROM deliveries WHERE event_id LIKE 'evt_scheduled_%' ORDER BY event_id",
		).all<{ event_id: string }>();
		expect(keptDeliveries.results.map((row) => row.event_id)).toEqual(["evt_scheduled_ahead", "evt_scheduled_recent"]);
	});
});
