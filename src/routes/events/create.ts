import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "../../lib/errors";
import { shedIfBacklogged } from "../../queue/backlog";
import { createRouter, errorResponses, jsonBody, jsonContent } from "../shared";
import { ingestInGroup } from "./group-commit";
import { type EventInput, ingestContext, ingestEvents } from "./ingest";
import {
	EventAccepted,
	EventIn,
	IdempotencyHeader,
	MAX_BATCH_EVENTS,
	MAX_EVENT_PAYLOAD_BYTES,
	REPLAYED_HEADER,
} from "./schemas";

const encoder = new TextEncoder();

const createRouteConfig = createRoute({
	method: "post",
	path: "/v1/events",
	tags: ["Events"],
	summary: "Send an event to every endpoint subscribed to its type",
	request: { headers: IdempotencyHeader, body: jsonBody(EventIn) },
	responses: {
		202: {
			...jsonContent(EventAccepted, "Accepted; deliveries are under way"),
			headers: z.object({
				[REPLAYED_HEADER]: z.enum(["id", "idempotency-key"]).optional().openapi({
					description:
						"Present when the answer is an event created earlier: `idempotency-key` when the key was used before (a retried request), `id` when only the event id was",
				}),
			}),
		},
		...errorResponses(400, 401, 413, 415, 422, 503),
	},
});

const batchRoute = createRoute({
	method: "post",
	path: "/v1/events/batch",
	tags: ["Events"],
	summary: "Send up to 100 events at once",
	description:
		"With an Idempotency-Key header, event i of the batch gets the key `<key>#<i>`, so repeating the whole batch sends nothing new.",
	request: {
		headers: IdempotencyHeader,
		body: jsonBody(z.strictObject({ events: z.array(EventIn).min(1).max(MAX_BATCH_EVENTS) }).openapi("EventBatchIn")),
	},
	responses: {
		202: jsonContent(z.object({ events: z.array(EventAccepted) }).openapi("EventBatchAccepted"), "Accepted"),
		...errorResponses(400, 401, 413, 415, 422, 503),
	},
});

/** The payload as it will be stored and signed, refused when over the limit. */
function serializePayload(data: Record<string, unknown>, field: string): string {
	const dataJson = JSON.stringify(data);
	const size = encoder.encode(dataJson).byteLength;
	if (size > MAX_EVENT_PAYLOAD_BYTES) {
		throw new ApiError(
			"payload_too_large",
			`${field} is ${size} bytes; an event's data may be at most 256 KiB (${MAX_EVENT_PAYLOAD_BYTES} bytes)`,
		);
	}
	return dataJson;
}

type SentEvent = z.infer<typeof EventIn>;

/** The request's own waitUntil, for what ingest leaves running after the answer. */
function requestWaitUntil(executionCtx: { waitUntil(work: Promise<unknown>): void }): (work: Promise<void>) => void {
	return (work) => executionCtx.waitUntil(work);
}

/** What ingest stores for one event of a request. */
function eventInput(event: SentEvent, field: string, idempotencyKey: string | undefined): EventInput {
	return {
		type: event.type,
		id: event.id,
		dataJson: serializePayload(event.data, field),
		idempotencyKey,
		labels: event.labels,
		tags: event.tags,
		deliverAtMs: event.deliver_at === undefined ? undefined : Date.parse(event.deliver_at),
	};
}

export const createEvents = createRouter()
	.openapi(createRouteConfig, async (c) => {
		shedIfBacklogged(c.env);
		const result = await ingestInGroup(
			ingestContext(c.env, c.var.db, c.var.tenantId, requestWaitUntil(c.executionCtx)),
			eventInput(c.req.valid("json"), "data", c.req.valid("header")["idempotency-key"]),
		);
		if (result.replayedBy !== undefined) c.header(REPLAYED_HEADER, result.replayedBy);
		return c.json(result.event, 202);
	})
	.openapi(batchRoute, async (c) => {
		shedIfBacklogged(c.env);
		const key = c.req.valid("header")["idempotency-key"];
		const inputs = c.req
			.valid("json")
			.events.map((event, index) =>
				eventInput(event, `events.${index}.data`, key === undefined ? undefined : `${key}#${index}`),
			);
		const results = await ingestEvents(
			ingestContext(c.env, c.var.db, c.var.tenantId, requestWaitUntil(c.executionCtx)),
			inputs,
		);
		return c.json({ events: results.map((result) => result.event) }, 202);
	});
