import { z } from "@hono/zod-openapi";
import { type DeliveryRow, deliveries, type EventRow } from "../../db/schema";
import type { AttemptRecord } from "../../delivery/attempt-record";
import { deliveryId, publicDeliveryId } from "../../lib/ids";
import { iso } from "../shared";

/** A public delivery id embeds its event's id, which a sender may have chosen up to 256 characters long. */
export const DeliveryIdParam = z.object({ id: z.string().min(1).max(300) });

export const DeliveryStatus = z.enum(deliveries.status.enumValues);

/** The delivery log entry, in seed 001's shape. */
export const DeliveryOut = z
	.object({
		id: z.string().openapi({ example: "del_3k9x2m7q1c8v4b6n_evt_01jd5x0000k3m9x2q1c8v4b6n7" }),
		event_id: z.string(),
		event_type: z.string(),
		endpoint_id: z.string(),
		status: DeliveryStatus,
		status_code: z.number().nullable(),
		attempts: z.number().int().openapi({ description: "Attempts made so far" }),
		delivered_at: z.string().nullable(),
		next_attempt_at: z.string().nullable(),
		error: z.string().nullable(),
		created_at: z.string(),
	})
	.openapi("DeliveryOut");

export const AttemptOut = z
	.object({
		id: z.string(),
		attempt: z.number().int(),
		trigger: z.enum(["initial", "scheduled", "manual"]),
		started_at: z.string(),
		duration_ms: z.number(),
		status_code: z.number().nullable(),
		response_body: z.string().nullable().openapi({ description: "First 4 KiB of the response body" }),
		error: z.string().nullable(),
	})
	.openapi("AttemptOut");

export const DeliveryDetail = DeliveryOut.omit({ attempts: true })
	.extend({
		attempt_count: z.number().int(),
		attempts: z.array(AttemptOut),
	})
	.openapi("DeliveryDetail");

export function deliveryOut(row: DeliveryRow): z.infer<typeof DeliveryOut> {
	return {
		id: publicDeliveryId(row.endpointId, row.eventId),
		event_id: row.eventId,
		event_type: row.eventType,
		endpoint_id: row.endpointId,
		status: row.status,
		status_code: row.statusCode,
		attempts: row.attemptCount,
		delivered_at: iso(row.deliveredAt),
		next_attempt_at: iso(row.nextAttemptAt),
		error: row.error,
		created_at: iso(row.createdAt),
	};
}

export function deliveryDetail(row: DeliveryRow): z.infer<typeof DeliveryDetail> {
	const { attempts, ...summary } = deliveryOut(row);
	return { ...summary, attempt_count: attempts, attempts: JSON.parse(row.attempts) as AttemptRecord[] };
}

/**
 * A delivery row is written with its first attempt, so a delivery still
 * waiting in the queue exists only in its event's fan-out list; this is how
 * it reads until then (a scheduled event's until its time has come and gone).
 */
export function queuedDelivery(event: EventRow, endpointId: string): DeliveryRow {
	return {
		id: deliveryId(endpointId, event.seq),
		tenantId: event.tenantId,
		endpointId,
		eventId: event.id,
		eventType: event.type,
		status: "pending",
		statusCode: null,
		attemptCount: 0,
		attempts: "[]",
		// A scheduled event's first attempt is due at its deliver_at.
		nextAttemptAt: event.deliverAt ?? event.createdAt,
		deliveredAt: null,
		error: null,
		createdAt: event.createdAt,
		updatedAt: event.createdAt,
	};
}
