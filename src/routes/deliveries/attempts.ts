import { createRoute, z } from "@hono/zod-openapi";
import { and, gt, lt } from "drizzle-orm";
import type { Database } from "../../db/client";
import { endpointLogRange, scanEndpointDeliveries } from "../../db/deliveries";
import { getEndpointOr404 } from "../../db/endpoints";
import {
	deliveriesOfEvent,
	type EventFilters,
	eventFilterConditions,
	eventPasses,
	findEvent,
	resolvePublicDeliveryId,
} from "../../db/events";
import { type DeliveryRow, deliveries, type EventRow } from "../../db/schema";
import type { AttemptRecord } from "../../delivery/attempt-record";
import { ApiError, notFound } from "../../lib/errors";
import { publicDeliveryId } from "../../lib/ids";
import { EventOut, eventOut } from "../events/read";
import { EventListFilters } from "../events/schemas";
import { createRouter, DateTimeQuery, errorResponses, jsonContent } from "../shared";
import { validationFailed } from "../validation";
import { AttemptOut } from "./schemas";

/*
 * Attempts across deliveries, newest first: an endpoint's (its delivery log,
 * a primary-key range, read in pages of deliveries and flattened) or an
 * event's (its fan-out, point lookups). Attempts live inside their delivery
 * row, so the filters on the attempt itself (outcome, status class, trigger,
 * time) are applied to the rows read, and a page may stop short of `limit`
 * when they are selective: `next_cursor` then says where to go on.
 */

/** Deliveries read per statement when listing an endpoint's attempts. */
const DELIVERIES_PER_PAGE = 100;
/**
 * Deliveries one statement looks at, at most, for the deliveries it returns:
 * filters that few deliveries pass stop there, so a request looks at no more
 * than MAX_PAGES times this many, whatever the log holds.
 */
const DELIVERIES_SCANNED_PER_PAGE = 1_000;
/** Statements one list request may spend before answering with what it found and a cursor. */
const MAX_PAGES = 5;

const STATUS_CODE_CLASSES = [0, 100, 200, 300, 400, 500] as const;

const AttemptListQuery = z
	.object({
		endpoint_id: z.string().min(1).max(100).optional().openapi({ description: "The endpoint's attempts" }),
		event_id: z.string().min(1).max(256).optional().openapi({ description: "The event's attempts" }),
		limit: z.coerce.number().int().min(1).max(250).default(50).openapi({ example: 50 }),
		cursor: z.string().max(400).optional(),
		status: z
			.enum(["success", "failed"])
			.optional()
			.openapi({ description: "Only attempts that succeeded, or only those that failed" }),
		status_code_class: z.coerce
			.number()
			.int()
			.refine(
				(value) => (STATUS_CODE_CLASSES as readonly number[]).includes(value),
				"must be 0, 100, 200, 300, 400 or 500",
			)
			.optional()
			.openapi({
				description:
					"Only attempts whose response status is in this class (200 for 2xx...); 0 for attempts that got no HTTP status",
			}),
		trigger: z.enum(["initial", "scheduled", "manual"]).optional(),
		...EventListFilters.shape,
		before: DateTimeQuery("Only attempts started before this time"),
		after: DateTimeQuery("Only attempts started after this time"),
		with_event: z
			.enum(["true", "false"])
			.default("false")
			.transform((value) => value === "true")
			.openapi({ type: "boolean", description: "Include each attempt's event, payload and all" }),
	})
	.superRefine((query, ctx) => {
		if (query.endpoint_id === undefined && query.event_id === undefined) {
			ctx.addIssue({ code: "custom", path: ["endpoint_id"], message: "endpoint_id or event_id is required" });
		}
	});

type AttemptListFilters = z.infer<typeof AttemptListQuery>;

export const AttemptListItem = AttemptOut.extend({
	delivery_id: z.string(),
	event_id: z.string(),
	endpoint_id: z.string(),
	status: z.enum(["success", "failed"]),
	event: EventOut.optional(),
}).openapi("AttemptListItem");

type Item = z.infer<typeof AttemptListItem>;

const listRoute = createRoute({
	method: "get",
	path: "/v1/attempts",
	tags: ["Deliveries"],
	summary: "An endpoint's or an event's attempts, newest first",
	description:
		"Every attempt made to an endpoint (`endpoint_id`) or for an event (`event_id`, with `endpoint_id` to narrow it to one of its deliveries). An endpoint's attempts come newest event first, and each event's attempts newest first; an event's come newest first. Attempts are recorded once made: a delivery still waiting for its first attempt has none. A page may hold fewer than `limit` attempts, even none, while more remain: go on while `next_cursor` is not null. An endpoint's list looks at no more than 5,000 of its deliveries per request, those created before `before` when it is given.",
	request: { query: AttemptListQuery },
	responses: {
		200: jsonContent(
			z.object({ attempts: z.array(AttemptListItem), next_cursor: z.string().nullable() }).openapi("AttemptList"),
			"Attempts",
		),
		...errorResponses(400, 401, 404, 422),
	},
});

/** A cursor: the delivery of the last attempt returned and that attempt's number; the list goes on below it. */
function cursorOf(deliveryPublicId: string, attempt: number): string {
	return `${deliveryPublicId}.${attempt}`;
}

function parseCursor(cursor: string): { deliveryPublicId: string; attempt: number } | null {
	const dot = cursor.lastIndexOf(".");
	const attempt = Number(cursor.slice(dot + 1));
	if (dot <= 0 || !Number.isInteger(attempt) || attempt < 0) return null;
	return { deliveryPublicId: cursor.slice(0, dot), attempt };
}

const staleCursor = () =>
	new ApiError(
		"invalid_request",
		"the cursor names no attempt of this list (its event may have been removed): list again without a cursor",
	);

function attemptPasses(record: AttemptRecord, filters: AttemptListFilters): boolean {
	if (filters.status !== undefined && (record.error === null ? "success" : "failed") !== filters.status) return false;
	if (filters.trigger !== undefined && record.trigger !== filters.trigger) return false;
	if (filters.status_code_class !== undefined) {
		const code = record.status_code;
		const codeClass = code === null || code < 100 ? 0 : Math.floor(code / 100) * 100;
		if (codeClass !== filters.status_code_class) return false;
	}
	const started = Date.parse(record.started_at);
	if (filters.before !== undefined && !(started < Date.parse(filters.before))) return false;
	if (filters.after !== undefined && !(started > Date.parse(filters.after))) return false;
	return true;
}

function itemOf(
	delivery: DeliveryRow,
	record: AttemptRecord,
	event: EventRow | null,
	withEvent: boolean,
	hideCredentials: boolean,
): Item {
	const item: Item = {
		...record,
		delivery_id: publicDeliveryId(delivery.endpointId, delivery.eventId),
		event_id: delivery.eventId,
		endpoint_id: delivery.endpointId,
		status: record.error === null ? "success" : "failed",
	};
	if (withEvent && event) item.event = eventOut(event, hideCredentials);
	return item;
}

/** A delivery's attempts, newest first. */
function attemptsOf(delivery: DeliveryRow): AttemptRecord[] {
	return (JSON.parse(delivery.attempts) as AttemptRecord[]).slice().reverse();
}

async function endpointAttempts(
	db: Database,
	tenantId: string,
	endpointIdOrUid: string,
	filters: AttemptListFilters,
	hideCredentials: boolean,
): Promise<{ attempts: Item[]; next_cursor: string | null }> {
	// The query may name the endpoint by its uid; its log and its cursors are keyed by its id.
	const { id: endpointId } = await getEndpointOr404(db, tenantId, endpointIdOrUid);
	// Only `before` bounds the range: an attempt started after a time may belong to a delivery of any age.
	const range = await endpointLogRange(db, endpointId, {
		until: filters.before === undefined ? undefined : Date.parse(filters.before),
	});
	let upper = { id: range.to, inclusive: false };
	/** In the cursor's delivery, only attempts numbered below this. */
	let below: { deliveryId: string; attempt: number } | null = null;
	if (filters.cursor !== undefined) {
		const parsed = parseCursor(filters.cursor);
		const named = parsed ? await resolvePublicDeliveryId(db, tenantId, parsed.deliveryPublicId) : null;
		if (!parsed || !named || named.endpointId !== endpointId) throw staleCursor();
		if (named.storedId < range.to) upper = { id: named.storedId, inclusive: true };
		below = { deliveryId: named.storedId, attempt: parsed.attempt };
	}
	const eventFilters: EventFilters = { eventTypes: filters.event_types, tag: filters.tag, label: filters.label };
	const where = and(
		gt(deliveries.attemptCount, 0),
		eventFilterConditions(eventFilters),
		// An attempt started after a time was recorded after it; one started before it belongs to a delivery created before.
		filters.after === undefined ? undefined : gt(deliveries.updatedAt, Date.parse(filters.after)),
		filters.before === undefined ? undefined : lt(deliveries.createdAt, Date.parse(filters.before)),
	);
	const found: Item[] = [];
	let goOnBelow: Pick<DeliveryRow, "id" | "endpointId" | "eventId"> | null = null;
	for (let page = 0; page < MAX_PAGES; page++) {
		const scanned = await scanEndpointDeliveries(
			db,
			tenantId,
			{ fromId: range.from, toId: upper.id, includeTo: upper.inclusive },
			where,
			DELIVERIES_PER_PAGE,
			DELIVERIES_SCANNED_PER_PAGE,
		);
		for (const { delivery, event } of scanned.rows) {
			for (const record of attemptsOf(delivery)) {
				if (below && delivery.id === below.deliveryId && record.attempt >= below.attempt) continue;
				if (!attemptPasses(record, filters)) continue;
				found.push(itemOf(delivery, record, event, filters.with_event, hideCredentials));
				if (found.length > filters.limit) {
					const answered = found.slice(0, filters.limit);
					const last = answered.at(-1);
					return { attempts: answered, next_cursor: last ? cursorOf(last.delivery_id, last.attempt) : null };
				}
			}
		}
		goOnBelow = scanned.goOnBelow;
		if (!goOnBelow) return { attempts: found, next_cursor: null };
		upper = { id: goOnBelow.id, inclusive: false };
		below = null;
	}
	// Out of statements for this request: go on below the last delivery looked at (attempt 0: none of it is left).
	return {
		attempts: found,
		next_cursor: goOnBelow ? cursorOf(publicDeliveryId(goOnBelow.endpointId, goOnBelow.eventId), 0) : null,
	};
}

async function eventAttempts(
	db: Database,
	tenantId: string,
	eventId: string,
	filters: AttemptListFilters,
	hideCredentials: boolean,
): Promise<{ attempts: Item[]; next_cursor: string | null }> {
	const event = await findEvent(db, tenantId, { id: eventId });
	if (!event) throw notFound("event", eventId);
	if (filters.endpoint_id !== undefined) await getEndpointOr404(db, tenantId, filters.endpoint_id);
	if (!eventPasses(event, { eventTypes: filters.event_types, tag: filters.tag, label: filters.label })) {
		return { attempts: [], next_cursor: null };
	}
	const recorded = await deliveriesOfEvent(db, event);
	const all = [...recorded.values()]
		.filter((delivery) => filters.endpoint_id === undefined || delivery.endpointId === filters.endpoint_id)
		.flatMap((delivery) =>
			attemptsOf(delivery)
				.filter((record) => attemptPasses(record, filters))
				.map((record) => itemOf(delivery, record, event, filters.with_event, hideCredentials)),
		)
		// Newest first; attempts started in the same millisecond keep an order of their own.
		.sort(
			(a, b) =>
				b.started_at.localeCompare(a.started_at) || b.delivery_id.localeCompare(a.delivery_id) || b.attempt - a.attempt,
		);
	let start = 0;
	if (filters.cursor !== undefined) {
		const parsed = parseCursor(filters.cursor);
		const index = parsed
			? all.findIndex((item) => item.delivery_id === parsed.deliveryPublicId && item.attempt === parsed.attempt)
			: -1;
		if (index < 0) throw staleCursor();
		start = index + 1;
	}
	const page = all.slice(start, start + filters.limit);
	const last = page.at(-1);
	return {
		attempts: page,
		next_cursor: start + filters.limit < all.length && last ? cursorOf(last.delivery_id, last.attempt) : null,
	};
}

export const attemptRoutes = createRouter().openapi(listRoute, async (c) => {
	const filters = c.req.valid("query");
	if (
		filters.before !== undefined &&
		filters.after !== undefined &&
		Date.parse(filters.after) >= Date.parse(filters.before)
	) {
		throw validationFailed([{ field: "after", message: "must be before before" }]);
	}
	const answer =
		filters.event_id !== undefined
			? await eventAttempts(c.var.db, c.var.tenantId, filters.event_id, filters, c.var.readOnly)
			: await endpointAttempts(c.var.db, c.var.tenantId, filters.endpoint_id ?? "", filters, c.var.readOnly);
	return c.json(answer, 200);
});
