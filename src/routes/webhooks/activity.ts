import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, gte, lt } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { endpointDeliveriesWithEvents, endpointLogRange } from "../../db/deliveries";
import { getEndpointOr404 } from "../../db/endpoints";
import { eventFilterConditions, resolvePublicDeliveryId } from "../../db/events";
import { deliveries, type EndpointRow } from "../../db/schema";
import { isOperationalEventType } from "../../delivery/operational-events";
import { ApiError } from "../../lib/errors";
import { publicDeliveryId } from "../../lib/ids";
import { DeliveryOut, DeliveryStatus, deliveryOut } from "../deliveries/schemas";
import { catalogEntry } from "../event-types";
import { recentlyUsed } from "../event-types/recent";
import { ingestContext, ingestEvents } from "../events/ingest";
import { EventOut, eventOut } from "../events/read";
import { EventListFilters, EventTypeName } from "../events/schemas";
import {
	type AppEnv,
	createRouter,
	DateTimeQuery,
	errorResponses,
	IdParam,
	jsonContent,
	PaginationQuery,
} from "../shared";
import { validationFailed } from "../validation";

const DeliveryListQuery = PaginationQuery.extend({
	cursor: z.string().max(300).optional(),
	status: DeliveryStatus.optional(),
	event_type: EventTypeName.optional().openapi({ description: "Only deliveries of this event type (exact name)" }),
	since: DateTimeQuery("Only deliveries created at or after this time"),
	until: DateTimeQuery("Only deliveries created before this time"),
	...EventListFilters.shape,
	with_event: z
		.enum(["true", "false"])
		.default("false")
		.transform((value) => value === "true")
		.openapi({ type: "boolean", description: "Include each delivery's event, payload and all" }),
}).superRefine((query, ctx) => {
	if (query.since === undefined || query.until === undefined) return;
	if (Date.parse(query.since) >= Date.parse(query.until)) {
		ctx.addIssue({ code: "custom", path: ["since"], message: "must be before until" });
	}
});

/** A test send may name any type a sender may post: the operational ones only Edgehook sends. */
const TestEventType = EventTypeName.refine(
	(type) => !isOperationalEventType(type),
	"is reserved for Edgehook's operational events (endpoint.failing, endpoint.recovered, endpoint.disabled, delivery.exhausted)",
);

const TestIn = z
	.strictObject({
		event_type: TestEventType.optional().openapi({
			description:
				"webhook.test (the default), a type of the event type catalog, or one of the tenant's recent events (GET /v1/recent-event-types)",
		}),
		payload: z
			.record(z.string(), z.unknown())
			.optional()
			.openapi({
				type: "object",
				description: "The event's data; when missing, the event type's example in the catalog, else {}",
				example: { id: "user_123" },
			}),
	})
	.openapi("TestIn");

export const TEST_EVENT_TYPE = "webhook.test";

/** What a webhook.test event carries when the caller gives no payload. */
export function defaultTestPayload(endpointId: string): Record<string, unknown> {
	return { webhook_id: endpointId, message: "This is a test event sent by Edgehook." };
}

/**
 * Looks the endpoint up before the body is validated, so another tenant's
 * endpoint id answers 404 whatever the body says, never a 422 that would
 * confirm the route only.
 */
export const loadEndpoint = createMiddleware<{
	Bindings: Env;
	Variables: AppEnv["Variables"] & { endpoint: EndpointRow };
}>(async (c, next) => {
	c.set("endpoint", await getEndpointOr404(c.var.db, c.var.tenantId, c.req.param("id") ?? ""));
	await next();
});

const deliveriesRoute = createRoute({
	method: "get",
	path: "/v1/webhooks/{id}/deliveries",
	tags: ["Webhooks"],
	summary: "The endpoint's delivery log, newest first",
	description:
		"A delivery appears here once its first attempt is recorded, normally milliseconds after the event. The filters combine; `since` and `until` are on the delivery's creation time (its event's), and only the window's part of the log is read: on a long log, give them with the other filters, which otherwise read on through older deliveries until the page is full.",
	request: { params: IdParam, query: DeliveryListQuery },
	responses: {
		200: jsonContent(
			z
				.object({
					deliveries: z.array(DeliveryOut.extend({ event: EventOut.optional() })),
					next_cursor: z.string().nullable(),
				})
				.openapi("DeliveryList"),
			"Deliveries",
		),
		...errorResponses(400, 401, 404, 422),
	},
});

const testRoute = createRoute({
	method: "post",
	path: "/v1/webhooks/{id}/test",
	tags: ["Webhooks"],
	summary: "Send a test event to this endpoint alone",
	description:
		"Without a body, a webhook.test event. With `event_type` (a type of the catalog, or of the tenant's recent events as GET /v1/recent-event-types lists them; others are a 422), an event of that type carrying `payload`, or the type's example when there is none, else {}. Either way it goes to this endpoint alone, whatever its subscriptions.",
	middleware: [loadEndpoint] as const,
	request: {
		params: IdParam,
		body: { required: false, content: { "application/json": { schema: TestIn } } },
	},
	responses: {
		202: jsonContent(
			z.object({ event_id: z.string(), delivery_id: z.string() }).openapi("TestAccepted"),
			"The test event is queued",
		),
		...errorResponses(400, 401, 404, 409, 415, 422),
	},
});

export const webhookActivity = createRouter()
	.openapi(deliveriesRoute, async (c) => {
		const {
			limit,
			cursor,
			status,
			event_type: eventType,
			since,
			until,
			with_event: withEvent,
			...onEvent
		} = c.req.valid("query");
		const { id } = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
		const sinceMs = since === undefined ? undefined : Date.parse(since);
		const untilMs = until === undefined ? undefined : Date.parse(until);
		const [range, after] = await Promise.all([
			// The window's part of the log, so that filters few deliveries pass do not read the rest of it.
			endpointLogRange(c.var.db, id, { since: sinceMs, until: untilMs }),
			cursor === undefined ? null : resolvePublicDeliveryId(c.var.db, c.var.tenantId, cursor),
		]);
		let upperBound = range.to;
		if (cursor !== undefined) {
			if (!after || after.endpointId !== id) {
				throw new ApiError(
					"invalid_request",
					"the cursor names no delivery of this endpoint (its event may have been removed): list again without a cursor",
				);
			}
			if (after.storedId < upperBound) upperBound = after.storedId;
		}
		const rows = await endpointDeliveriesWithEvents(
			c.var.db,
			c.var.tenantId,
			{ fromId: range.from, toId: upperBound, includeTo: false },
			and(
				status ? eq(deliveries.status, status) : undefined,
				eventType === undefined ? undefined : eq(deliveries.eventType, eventType),
				sinceMs === undefined ? undefined : gte(deliveries.createdAt, sinceMs),
				untilMs === undefined ? undefined : lt(deliveries.createdAt, untilMs),
				eventFilterConditions({ eventTypes: onEvent.event_types, tag: onEvent.tag, label: onEvent.label }),
			),
			limit + 1,
			// Packs hold the outcomes of attempts made: a list of skipped deliveries need not read them.
			status !== "skipped",
		);
		const page = rows.slice(0, limit);
		const last = page.at(-1)?.delivery;
		return c.json(
			{
				deliveries: page.map(({ delivery, event }) => ({
					...deliveryOut(delivery),
					...(withEvent && event ? { event: eventOut(event, c.var.readOnly) } : {}),
				})),
				next_cursor: rows.length > limit && last ? publicDeliveryId(last.endpointId, last.eventId) : null,
			},
			200,
		);
	})
	.openapi(testRoute, async (c) => {
		const input = c.req.valid("json");
		const endpoint = c.var.endpoint;
		const id = endpoint.id;
		if (!endpoint.active) throw new ApiError("conflict", "the endpoint is disabled; enable it before testing");
		const type = input.event_type ?? TEST_EVENT_TYPE;
		let data: Record<string, unknown>;
		if (type === TEST_EVENT_TYPE) {
			data = input.payload ?? defaultTestPayload(id);
		} else {
			const entry = await catalogEntry(c.var.db, c.var.tenantId, type);
			// A type the tenant's senders use but nobody catalogued is as real as a catalogued one; a typo is neither.
			if (entry === null && !(await recentlyUsed(c.var.db, c.var.tenantId, type))) {
				throw validationFailed([
					{
						field: "event_type",
						message: `is neither in the event type catalog nor the type of a recent event: add ${type} with POST /v1/event-types`,
					},
				]);
			}
			data = input.payload ?? entry?.example ?? {};
		}
		const [result] = await ingestEvents(
			ingestContext(c.env, c.var.db, c.var.tenantId),
			[{ type, dataJson: JSON.stringify(data) }],
			id,
		);
		if (!result) throw new ApiError("internal_error", "the test event was not stored");
		return c.json({ event_id: result.event.id, delivery_id: publicDeliveryId(id, result.event.id) }, 202);
	});
