import { z } from "@hono/zod-openapi";
import { isOperationalEventType } from "../../delivery/operational-events";
import { isoDateTime } from "../shared";

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

/** How far ahead an event may be scheduled with `deliver_at`. */
export const MAX_SCHEDULE_DAYS = 30;
export const MAX_SCHEDULE_MS = MAX_SCHEDULE_DAYS * 24 * 60 * 60 * 1000;

/** Routing labels (Svix `channels`): an endpoint with labels receives only events that carry one of them. */
export const EventLabels = z
	.array(
		z
			.string()
			.min(1)
			.max(128)
			.regex(/^[a-zA-Z0-9\-_.:+]+$/, "may hold letters, digits, - _ . : and +"),
	)
	.min(1)
	.max(10)
	.refine((labels) => new Set(labels).size === labels.length, "must not repeat a label");

export const EventTags = z
	.array(
		z
			.string()
			.min(1)
			.max(128)
			.regex(/^[a-zA-Z0-9\-_./\\#]+$/, "may hold letters, digits, - _ . / \\ and #"),
	)
	.max(5)
	.refine((tags) => new Set(tags).size === tags.length, "must not repeat a tag");

export const DeliverAt = isoDateTime().refine(
	(value) => Date.parse(value) <= Date.now() + MAX_SCHEDULE_MS,
	`may be at most ${MAX_SCHEDULE_DAYS} days ahead`,
);

export const EventIn = z
	.strictObject({
		type: SentEventType,
		data: z.record(z.string(), z.unknown()).openapi({ type: "object", example: { id: "user_123" } }),
		id: z
			.string()
			.min(1)
			.max(256)
			.regex(/^[A-Za-z0-9_\-.:]+$/, "may hold letters, digits, _ - . and :")
			.optional()
			.openapi({ description: "Your id for the event; repeating it answers with the original event" }),
		labels: EventLabels.optional().openapi({
			description:
				"Routing labels (Svix `channels`): an endpoint with `labels` receives only events that carry one of them; endpoints without labels receive every event of their types, labelled or not",
			example: ["project_123"],
		}),
		tags: EventTags.optional().openapi({
			description: "Up to 5 tags the event lists can filter on (`tag`)",
			example: ["user_123"],
		}),
		deliver_at: DeliverAt.optional().openapi({
			description: `Schedule the first attempts: up to ${MAX_SCHEDULE_DAYS} days ahead; a time already past sends at once. The event is stored now and its deliveries show as pending with this due time`,
			example: "2026-05-01T12:00:00Z",
		}),
	})
	.openapi("EventIn");

export const EventAccepted = z
	.object({
		id: z.string().openapi({ example: "evt_01jd5x0000k3m9x2q1c8v4b6n7" }),
		type: z.string(),
		created: z.number().int(),
		created_at: z.string(),
		labels: z.array(z.string()).nullable(),
		tags: z.array(z.string()).nullable(),
		deliver_at: z
			.string()
			.nullable()
			.openapi({ description: "When the first attempts are due, for a scheduled event" }),
	})
	.openapi("EventAccepted");

/**
 * Set on a 202 that answers with an event created earlier: `id` when the
 * event id was already taken, `idempotency-key` when the key was.
 */
export const REPLAYED_HEADER = "idempotent-replayed";

export const IdempotencyHeader = z.object({
	"idempotency-key": z.string().min(1).max(255).optional().openapi({
		description: "Repeating a key answers with the original event and sends nothing new",
	}),
});

/** Query values naming a label or a tag: the union of what each may hold. */
const LABEL_OR_TAG = /^[a-zA-Z0-9\-_./\\#:+]+$/;

const MAX_LISTED_EVENT_TYPES = 50;

export const EventTypeList = z
	.string()
	.max(4096)
	.transform((value, ctx) => {
		const names = [...new Set(value.split(",").filter((name) => name !== ""))];
		// Each name is one bound parameter of the list's query, and D1 takes at most 100 per statement.
		if (names.length > MAX_LISTED_EVENT_TYPES) {
			ctx.addIssue({ code: "custom", message: `may name at most ${MAX_LISTED_EVENT_TYPES} event types` });
			return z.NEVER;
		}
		for (const name of names) {
			if (!EventTypeName.safeParse(name).success) {
				ctx.addIssue({ code: "custom", message: `${JSON.stringify(name)} is not an event type name` });
				return z.NEVER;
			}
		}
		return names;
	})
	.optional()
	.openapi({
		type: "string",
		maxLength: 4096,
		description: `Only events of these types: up to ${MAX_LISTED_EVENT_TYPES} names separated by commas`,
		example: "user.created,user.deleted",
	});

/** The filters on an event's own fields that the lists of events, deliveries and attempts share. */
export const EventListFilters = z.object({
	event_types: EventTypeList,
	tag: z.string().min(1).max(128).regex(LABEL_OR_TAG).optional().openapi({ description: "Only events with this tag" }),
	label: z
		.string()
		.min(1)
		.max(128)
		.regex(LABEL_OR_TAG)
		.optional()
		.openapi({ description: "Only events carrying this routing label (Svix `channel`)" }),
});

/** An event's id in a path: generated ids are short, a sender's own may take up to 256 characters. */
export const EventIdParam = z.object({ id: z.string().min(1).max(256) });
