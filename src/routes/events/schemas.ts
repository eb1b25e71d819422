import { z } from "@hono/zod-openapi";
import { isOperationalEventType } from "../../delivery/operational-events";

export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9_\-:]+(\.[A-Za-z0-9_\-:]+)*$/;
export const MAX_EVENT_PAYLOAD_BYTES = 256 * 1024;
export const MAX_BATCH_EVENTS = 100;
/** A batch body may hold several large events, but not a hundred of the largest. */
export const MAX_BATCH_BODY_BYTES = 2 * 1024 * 1024;

export const EventTypeName = z
	.string()
	.min(1)
	.max(128)
	.regex(EVENT_TYPE_PATTERN, "must be dot-separated words of letters, digits, _ - or :")
	.openapi({ example: "user.created" });

/** What a sender may post: any event type but the operational ones, which only Edgehook sends. */
const SentEventType = EventTypeName.refine(
	(type) => !isOperationalEventType(type),
	"is reserved for Edgehook's operational events (endpoint.failing, endpoint.recovered, endpoint.disabled, delivery.exhausted)",
);

export const EventIn = z
	.strictObject({
		type: SentEventType,
		data: z.record(z.string(), z.unknown()).openapi({ type: "object", example: { id: "user_123" } }),
		id: z
			.string()
			.min(1)
			.max(128)
			.regex(/^[A-Za-z0-9_\-.:]+$/, "may hold letters, digits, _ - . and :")
			.optional()
			.openapi({ description: "Your id for the event; repeating it answers with the original event" }),
	})
	.openapi("EventIn");

export const EventAccepted = z
	.object({
		id: z.string().openapi({ example: "evt_01jd5x0000k3m9x2q1c8v4b6n7" }),
		type: z.string(),
		created: z.number().int(),
		created_at: z.string(),
	})
	.openapi("EventAccepted");

export const IdempotencyHeader = z.object({
	"idempotency-key": z.string().min(1).max(255).optional().openapi({
		description: "Repeating a key answers with the original event and sends nothing new",
	}),
});
