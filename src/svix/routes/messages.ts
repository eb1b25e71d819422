import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../lib/errors";
import { isGeneratedEventId } from "../../lib/ids";
import { resolveApp } from "../apps";
import { svixCoded } from "../errors";
import type { NativeRequest, QueryValue } from "../native";
import { pageBothWays, SvixListQuery, svixListSchema } from "../paging";
import { createSvixRouter, requiredJsonBody, SvixDateTime, type SvixEnv, svixErrors, svixJson } from "../router";
import { ApplicationIn, resolveOrCreateApp } from "./applications";

/*
 * Messages are native events (POST/GET /v1/events): `eventId` is the event's
 * id, so a message has one id in both APIs, `channels` are the event's
 * routing `labels`, `deliverAt` its `deliver_at`. A create passes the
 * caller's idempotency-key on to the event store, whose replay signal tells
 * a retried request (replayed as the first 202) from a second message
 * reusing an eventId (409).
 */

/** A native event as POST /v1/events and GET /v1/events answer it. */
export interface NativeEvent {
	id: string;
	type: string;
	created_at: string;
	labels: string[] | null;
	tags: string[] | null;
	deliver_at: string | null;
	data?: Record<string, unknown>;
}

interface NativeEventList {
	events: NativeEvent[];
	next_cursor: string | null;
	has_more: boolean;
}

/** The native field names of an event and their Svix names, for 422s. */
export const MESSAGE_RENAMES = {
	type: "eventType",
	data: "payload",
	id: "eventId",
	labels: "channels",
	tags: "tags",
	deliver_at: "deliverAt",
} as const;

export const MessageOut = z
	.object({
		id: z.string().openapi({ example: "evt_01jd5x0000k3m9x2q1c8v4b6n7" }),
		eventType: z.string(),
		payload: z.record(z.string(), z.unknown()),
		eventId: z.string().nullable().optional(),
		channels: z.array(z.string()).nullable().optional(),
		tags: z.array(z.string()).nullable().optional(),
		timestamp: z.string(),
		deliverAt: z.string().nullable().optional(),
	})
	.openapi("MessageOut");

export type SvixMessage = z.infer<typeof MessageOut>;

/** A native event as a Svix message; `payload` is `{}` without content, as Svix answers with_content=false. */
export function messageOut(event: NativeEvent, payload: Record<string, unknown> | undefined): SvixMessage {
	const message: SvixMessage = {
		id: event.id,
		eventType: event.type,
		payload: payload ?? {},
		timestamp: event.created_at,
	};
	// An id of the generated form is Edgehook's, not a sender's own `eventId`.
	if (!isGeneratedEventId(event.id)) message.eventId = event.id;
	if (event.labels !== null) message.channels = event.labels;
	if (event.tags !== null) message.tags = event.tags;
	if (event.deliver_at !== null) message.deliverAt = event.deliver_at;
	return message;
}

const WithContent = z
	.enum(["true", "false"])
	.default("true")
	.transform((value) => value === "true")
	.openapi({ type: "boolean", description: "Include the payload (default); false answers `{}` in its place" });

/** Svix's comma-joined `event_types`, passed on as the native list's filter of the same name. */
export const EventTypesQuery = z.string().max(4096).optional().openapi({ example: "user.created,user.deleted" });

const AppParam = z.object({ app_id: z.string().min(1).max(256) });
const MessageParam = AppParam.extend({ msg_id: z.string().min(1).max(256) });

const MessageIn = z
	.object({
		eventType: z.string().openapi({ example: "user.created" }),
		payload: z.record(z.string(), z.unknown()).openapi({ type: "object", example: { id: "user_123" } }),
		eventId: z.string().nullable().optional().openapi({ description: "Your id; a second message with it answers 409" }),
		channels: z.array(z.string()).nullable().optional(),
		tags: z.array(z.string()).nullable().optional(),
		deliverAt: z.string().nullable().optional(),
		application: ApplicationIn.nullable().optional().openapi({
			description:
				"Creates the application when the path names none; its uid must be the path's app_id. Ignored when the application exists",
		}),
		payloadRetentionPeriod: z.number().int().min(1).max(90).nullable().optional().openapi({
			description: "Accepted and ignored: payloads are kept as long as the deployment's retention keeps events",
		}),
		payloadRetentionHours: z.number().int().min(1).max(2160).nullable().optional().openapi({
			description: "Accepted and ignored, as payloadRetentionPeriod",
		}),
		transformationsParams: z.record(z.string(), z.unknown()).nullable().optional().openapi({
			description:
				"Accepted and ignored: transformations are the endpoint's (JSONata), they take no per-message parameters",
		}),
	})
	.openapi("MessageIn");

const createRouteConfig = createRoute({
	method: "post",
	path: "/api/v1/app/{app_id}/msg",
	tags: ["Message"],
	summary: "Create a message (a native event)",
	description:
		"With `eventId`, a second message with the same id answers 409; the same `idempotency-key` answers the first 202 again.",
	request: {
		params: AppParam,
		query: z.object({ with_content: WithContent }),
		headers: z.object({ "idempotency-key": z.string().min(1).max(255).optional() }),
		body: requiredJsonBody(MessageIn),
	},
	responses: { 202: svixJson(MessageOut, "Accepted"), ...svixErrors(400, 409, 413) },
});

const listRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/msg",
	tags: ["Message"],
	summary: "List messages, newest first",
	request: {
		params: AppParam,
		query: SvixListQuery.omit({ order: true }).extend({
			channel: z.string().min(1).max(128).optional(),
			tag: z.string().min(1).max(128).optional(),
			before: SvixDateTime.optional(),
			after: SvixDateTime.optional(),
			with_content: WithContent,
			event_types: EventTypesQuery,
		}),
	},
	responses: { 200: svixJson(svixListSchema(MessageOut, "ListResponseMessageOut"), "Messages"), ...svixErrors(400) },
});

const getRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/msg/{msg_id}",
	tags: ["Message"],
	summary: "Get a message by id or eventId (the same thing here)",
	request: { params: MessageParam, query: z.object({ with_content: WithContent }) },
	responses: { 200: svixJson(MessageOut, "The message"), ...svixErrors() },
});

/** The native list filters and the Svix query parameters they come from. */
const QUERY_RENAMES: Readonly<Record<string, string>> = {
	label: "channel",
	cursor: "iterator",
	since: "after",
	until: "before",
};

/**
 * A native list's 422 as Svix reports a bad query parameter: the native
 * error names its own query field as if in a body, so it is moved to
 * `query` and given the Svix name.
 */
export function asQueryProblem(error: ApiError): ApiError {
	if (error.code !== "validation_failed") return error;
	const details = error.details;
	const problems =
		typeof details === "object" && details !== null && "svix" in details ? (details as { svix: unknown }).svix : null;
	if (!Array.isArray(problems)) return error;
	return new ApiError("validation_failed", error.message, {
		svix: problems.map((problem: { loc: string[]; msg: string; type: string }) => {
			const [, field = "", ...rest] = problem.loc;
			return { ...problem, loc: ["query", QUERY_RENAMES[field] ?? field, ...rest] };
		}),
	});
}

/** The native answer of a list call, its 422s reported on the query. */
export async function listCall<T>(c: Context<SvixEnv>, request: NativeRequest): Promise<T> {
	const answer = await c.var.native.attempt<T>(request);
	if (answer instanceof ApiError) throw asQueryProblem(answer);
	return answer.body;
}

/** The native event list's query for Svix's filters. */
export function eventListFilters(query: {
	channel?: string | undefined;
	tag?: string | undefined;
	event_types?: string | undefined;
}): Record<string, QueryValue> {
	return { label: query.channel, tag: query.tag, event_types: query.event_types };
}

export const messagesRoutes = createSvixRouter()
	.openapi(createRouteConfig, async (c) => {
		const { app_id: appId } = c.req.valid("param");
		const input = c.req.valid("json");
		const tenantId = await resolveOrCreateApp(c, appId, input.application ?? undefined);
		const key = c.req.valid("header")["idempotency-key"];
		const body: Record<string, unknown> = { type: input.eventType, data: input.payload };
		if (input.eventId !== undefined && input.eventId !== null) body.id = input.eventId;
		if (input.channels !== undefined && input.channels !== null) body.labels = input.channels;
		if (input.tags !== undefined && input.tags !== null) body.tags = input.tags;
		if (input.deliverAt !== undefined && input.deliverAt !== null) body.deliver_at = input.deliverAt;
		const created = await c.var.native.call<NativeEvent>({
			method: "POST",
			path: "/v1/events",
			tenantId,
			body,
			headers: key === undefined ? {} : { "idempotency-key": key },
			renames: MESSAGE_RENAMES,
		});
		const replayed = created.headers.get("idempotent-replayed");
		if (replayed === "id") {
			throw svixCoded("conflict", "conflict", `a message with eventId ${JSON.stringify(input.eventId)} already exists`);
		}
		const withContent = c.req.valid("query").with_content;
		// Said as the other POSTs of the face say it (src/svix/idempotency.ts).
		if (replayed !== null) c.header("idempotent-replayed", "true");
		if (replayed === null || !withContent) {
			return c.json(messageOut(created.body, withContent ? input.payload : undefined), 202);
		}
		// A retried request: the first answer's payload is the stored one, whatever this body says.
		const original = await c.var.native.call<NativeEvent>({
			method: "GET",
			path: `/v1/events/${encodeURIComponent(created.body.id)}`,
			tenantId,
		});
		return c.json(messageOut(original.body, original.body.data), 202);
	})
	.openapi(listRoute, async (c) => {
		const { app_id: appId } = c.req.valid("param");
		const tenantId = await resolveApp(c, appId);
		const query = c.req.valid("query");
		const list = await pageBothWays(
			query.iterator,
			"desc",
			async (direction, cursor) => {
				const body = await listCall<NativeEventList>(c, {
					method: "GET",
					path: "/v1/events",
					tenantId,
					query: {
						order: direction,
						limit: query.limit,
						cursor,
						before: query.before,
						after: query.after,
						...eventListFilters(query),
					},
				});
				return { items: body.events, more: body.has_more };
			},
			(event) => event.id,
			(event) => messageOut(event, query.with_content ? event.data : undefined),
		);
		return c.json(list, 200);
	})
	.openapi(getRoute, async (c) => {
		const { app_id: appId, msg_id: msgId } = c.req.valid("param");
		const tenantId = await resolveApp(c, appId);
		const answer = await c.var.native.attempt<NativeEvent>({
			method: "GET",
			path: `/v1/events/${encodeURIComponent(msgId)}`,
			tenantId,
		});
		if (answer instanceof ApiError) {
			// A message id the native API would refuse as malformed names no message.
			if (answer.code === "validation_failed") throw new ApiError("not_found", `no message ${msgId}`);
			throw answer;
		}
		return c.json(messageOut(answer.body, c.req.valid("query").with_content ? answer.body.data : undefined), 200);
	});
