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
});
