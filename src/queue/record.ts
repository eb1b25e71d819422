import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { openDatabase } from "../db/client";
import { deliveries, endpoints } from "../db/schema";
import type { Outcome } from "./attempt";

/** The D1 statements that store a batch's outcomes: one upsert per delivery, plus endpoint updates. */
export function recordOutcomes(env: Env, outcomes: readonly Outcome[]) {
	const db = openDatabase(env.DB);
	const now = Date.now();
	const statements: BatchItem<"sqlite">[] = [];
	for (const outcome of outcomes) {
		const { planned, record } = outcome;
		const attemptJson = record === null ? null : JSON.stringify(record);
		statements.push(
			db
				.insert(deliveries)
				.values({
					id: planned.deliveryId,
					tenantId: planned.tenantId,
					endpointId: planned.endpointId,
					eventId: planned.event.id,
					eventType: planned.event.type,
					status: outcome.status,
					statusCode: record?.status_code ?? null,
					attemptCount: record === null ? 0 : 1,
					attempts: attemptJson === null ? "[]" : `[${attemptJson}]`,
					nextAttemptAt: outcome.nextAttemptAtMs,
					deliveredAt: outcome.status === "success" ? now : null,
					error: outcome.error,
					createdAt: planned.event.createdAt,
					updatedAt: now,
				})
				.onConflictDoUpdate({
					target: deliveries.id,
					set: {
						status: sql`excluded.status`,
						statusCode: sql`coalesce(excluded.status_code, ${deliveries.statusCode})`,
						attemptCount: sql`${deliveries.attemptCount} + excluded.attempt_count`,
						attempts:
							attemptJson === null
								? sql`${deliveries.attempts}`
								: sql`json_insert(${deliveries.attempts}, '$[#]', json(${attemptJson}))`,
						nextAttemptAt: outcome.keepSchedule ? sql`${deliveries.nextAttemptAt}` : sql`excluded.next_attempt_at`,
						deliveredAt: sql`coalesce(excluded.delivered_at, ${deliveries.deliveredAt})`,
						error: sql`excluded.error`,
						updatedAt: sql`excluded.updated_at`,
					},
				}),
		);
		if (outcome.slowUntil !== undefined) {
			statements.push(
				db
					.update(endpoints)
					.set({ slowUntil: outcome.slowUntil })
					.where(and(eq(endpoints.tenantId, planned.tenantId), eq(endpoints.id, planned.endpointId))),
			);
		}
		if (outcome.disableEndpoint !== null) {
			statements.push(
				db
					.update(endpoints)
					.set({ active: false, disabledReason: outcome.disableEndpoint, updatedAt: now })
					.where(and(eq(endpoints.tenantId, planned.tenantId), eq(endpoints.id, planned.endpointId))),
			);
		}
	}
	return statements;
}
