import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, getTableColumns, gt, lt } from "drizzle-orm";
import type { Database } from "../../db/client";
import { eventsOfBlocks, tenantBlocksWithin, tenantEventsOrder } from "../../db/event-blocks";
import { seqWindow } from "../../db/event-position";
import { deliveriesOfEvent, eventFilterConditions, findEvent } from "../../db/events";
import { type EventRow, eventBlocks, events } from "../../db/schema";
import { isOperationalEventType } from "../../delivery/operational-events";
import { maskTargetUrl } from "../../delivery/target-url";
import { ApiError, notFound } from "../../lib/errors";
import { DeliveryOut, deliveryOut, queuedDelivery } from "../deliveries/schemas";
import { createRouter, DateTimeQuery, errorResponses, jsonContent, PaginationQuery } from "../shared";
import { acceptedEvent } from "./ingest";
import { EventAccepted, EventIdParam, EventListFilters, EventTypeName } from "./schemas";

export const EventOut = EventAccepted.extend({ data: z.record(z.string(), z.unknown()) }).openapi("EventOut");

const listRoute = createRoute({
	method: "get",
	path: "/v1/events",
	tags: ["Events"],
	summary: "List events oldest first after a cursor (the polling fallback), or newest first",
	request: {
		query: PaginationQuery.extend({
			type: EventTypeName.optional(),
			order: z.enum(["asc", "desc"]).default("asc").openapi({
				description:
					"asc (the polling order): oldest first, the cursor resumes after the last event returned. desc: newest first, the cursor resumes before it",
			}),
			cursor: z.string().max(256).optional(),
			...EventListFilters.shape,
			before: DateTimeQuery("Only events created before this time"),
			after: DateTimeQuery("Only events created after this time"),
		}),
	},
	responses: {
		200: jsonContent(
			z
				.object({
					events: z.array(EventOut),
					next_cursor: z.string().nullable().openapi({
						description:
							"Where to resume: the id of the last event returned. Kept when the page is empty, so a poller can keep it",
					}),
					has_more: z.boolean(),
				})
				.openapi("EventList"),
			"Events in the order they were accepted",
		),
		...errorResponses(400, 401, 422),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/v1/events/{id}",
	tags: ["Events"],
	summary: "Get an event with its deliveries",
	request: { params: EventIdParam },
	responses: {
		200: jsonContent(EventOut.extend({ deliveries: z.array(DeliveryOut) }).openapi("EventDetail"), "The event"),
		...errorResponses(401, 404),
	},
});

/**
 * An event's data as the caller may see it. Operational events carry their
 * endpoint's URL masked since they are made, but older ones were stored with
 * it whole: a read-only portal gets those masked here.
 */
function eventData(row: EventRow, hideCredentials: boolean): Record<string, unknown> {
	const data = JSON.parse(row.data) as Record<string, unknown>;
	const url = data.url;
	if (!hideCredentials || !isOperationalEventType(row.type) || typeof url !== "string") return data;
	// An email endpoint's address is its mailto: of addresses, which are shown to read-only portals elsewhere too.
	return url.startsWith("mailto:") ? data : { ...data, url: maskTargetUrl(url) };
}

/** An event as the API shows it. */
export function eventOut(row: EventRow, hideCredentials: boolean): z.infer<typeof EventOut> {
	return { ...acceptedEvent(row), data: eventData(row, hideCredentials) };
}

/**
 * The position a cursor stands for: its event's place in the order events
 * were accepted. The cursor is the event's id, not that position, because
 * positions count every tenant's events (0: no cursor).
 */
async function cursorPosition(db: Database, tenantId: string, cursor: string | undefined): Promise<number> {
	if (cursor === undefined) return 0;
	const event = await findEvent(db, tenantId, { id: cursor });
	if (!event) {
		throw new ApiError(
			"invalid_request",
			"the cursor names no event of this tenant (it may have been removed by retention): list again without a cursor",
		);
	}
	return event.seq;
}

/** The tighter of two optional bounds: `pick` is Math.max for lower bounds, Math.min for upper ones. */
function tighter(a: number | null, b: number | null, pick: (x: number, y: number) => number): number | null {
	if (a === null) return b;
	return b === null ? a : pick(a, b);
}

export const readEvents = createRouter()
	.openapi(listRoute, async (c) => {
		const { limit, cursor, type, order, event_types: eventTypes, tag, label, before, after } = c.req.valid("query");
		const [position, window] = await Promise.all([
			cursorPosition(c.var.db, c.var.tenantId, cursor),
			// The time filters as seq bounds too, so a page reads the window's part of the tenant's events rather
			// than all of them before or after it; the exact filters on created_at below stay.
			seqWindow(c.var.db, {
				since: after === undefined ? undefined : Date.parse(after),
				until: before === undefined ? undefined : Date.parse(before),
			}),
		]);
		const newestFirst = order === "desc";
		// One lower and one upper bound on seq, each the tighter of the cursor's and the window's: given two
		// bounds on one side, SQLite ranges over the blocks by one of them and only filters by the other.
		// Newest first starts at the end: a cursor of 0 (none) means no upper bound.
		const cursorLow = newestFirst ? null : position;
		const cursorHigh = newestFirst && position > 0 ? position : null;
		const low = tighter(cursorLow, window.afterSeq, Math.max);
		const high = tighter(cursorHigh, window.beforeSeq, Math.min);
		const rows = await c.var.db
			.select(getTableColumns(events))
			.from(eventBlocks)
			.innerJoin(events, eventsOfBlocks(low, high))
			.where(
				and(
					tenantBlocksWithin(c.var.tenantId, low, high),
					type ? eq(events.type, type) : undefined,
					eventFilterConditions({ eventTypes, tag, label }),
					before === undefined ? undefined : lt(events.createdAt, Date.parse(before)),
					after === undefined ? undefined : gt(events.createdAt, Date.parse(after)),
				),
			)
			.orderBy(...tenantEventsOrder(newestFirst))
			.limit(limit + 1);
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json(
			{
				events: page.map((row) => eventOut(row, c.var.readOnly)),
				next_cursor: last ? last.id : (cursor ?? null),
				has_more: rows.length > limit,
			},
			200,
		);
	})
	.openapi(getRoute, async (c) => {
		const { id } = c.req.valid("param");
		const event = await findEvent(c.var.db, c.var.tenantId, { id });
		if (!event) throw notFound("event", id);
		const recorded = await deliveriesOfEvent(c.var.db, event);
		const endpointIds = JSON.parse(event.endpointIds) as string[];
		return c.json(
			{
				...eventOut(event, c.var.readOnly),
				deliveries: endpointIds.map((endpointId) =>
					deliveryOut(recorded.get(endpointId) ?? queuedDelivery(event, endpointId)),
				),
			},
			200,
		);
	});
