import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError, notFound } from "../../lib/errors";
import { publicDeliveryId } from "../../lib/ids";
import { resolveApp } from "../apps";
import { svixInvalid } from "../errors";
import type { QueryValue } from "../native";
import { SvixListQuery, svixList, svixListSchema } from "../paging";
import { createSvixRouter, SvixDateTime, type SvixEnv, svixErrors, svixJson } from "../router";
import {
	asQueryProblem,
	EventTypesQuery,
	eventListFilters,
	listCall,
	MessageOut,
	messageOut,
	type NativeEvent,
} from "./messages";

/*
 * Attempts are the native attempt records (GET /v1/attempts), the
 * deliveries behind "attempted messages" the endpoint's delivery log
 * (GET /v1/webhooks/{id}/deliveries), and resend is a delivery's retry
 * (POST /v1/deliveries/{id}/retry), whose attempt is recorded as manual.
 */

/** Svix's MessageStatus: 0 success, 1 pending, 2 fail, 3 sending, 4 canceled. */
const STATUS_TEXT = ["success", "pending", "fail", "sending", "canceled"] as const;
type SvixStatus = 0 | 1 | 2 | 3 | 4;

interface NativeAttempt {
	id: string;
	attempt: number;
	trigger: "initial" | "scheduled" | "manual";
	started_at: string;
	duration_ms: number;
	status_code: number | null;
	response_body: string | null;
	error: string | null;
	delivery_id: string;
	event_id: string;
	endpoint_id: string;
	status: "success" | "failed";
	event?: NativeEvent;
}

interface NativeDelivery {
	id: string;
	event_id: string;
	event_type: string;
	endpoint_id: string;
	status: "pending" | "success" | "failed" | "skipped";
	attempts: number;
	next_attempt_at: string | null;
	created_at: string;
	event?: NativeEvent;
}

interface NativeWebhook {
	id: string;
	url: string | null;
	description: string;
	events: string[];
	active: boolean;
	rate_limit_per_second: number | null;
	created_at: string;
	updated_at: string;
	/** Added to the native API by the endpoints work (Svix `uid` and `channels`); absent before it. */
	uid?: string | null;
	labels?: string[] | null;
}

const AppParam = z.object({ app_id: z.string().min(1).max(256) });
const MessageParam = AppParam.extend({ msg_id: z.string().min(1).max(256) });
const EndpointParam = AppParam.extend({ endpoint_id: z.string().min(1).max(256) });

const Status = z.coerce
	.number()
	.int()
	.min(0)
	.max(4)
	.optional()
	.openapi({ description: "0 success, 1 pending, 2 fail, 3 sending, 4 canceled" });

const Flag = (fallback: "true" | "false", description: string) =>
	z
		.enum(["true", "false"])
		.default(fallback)
		.transform((value) => value === "true")
		.openapi({ type: "boolean", description });

const AttemptFilters = SvixListQuery.omit({ order: true }).extend({
	status: Status,
	status_code_class: z.coerce.number().int().optional().openapi({ description: "0, 100, 200, 300, 400 or 500" }),
	channel: z.string().min(1).max(128).optional(),
	tag: z.string().min(1).max(128).optional(),
	before: SvixDateTime.optional(),
	after: SvixDateTime.optional(),
	with_content: Flag("true", "Include response bodies; false answers `{}` in their place"),
	expanded_statuses: Flag("false", "Accepted; attempts here are only ever success or fail"),
	event_types: EventTypesQuery,
});

export const MessageAttemptOut = z
	.object({
		id: z.string(),
		msgId: z.string(),
		endpointId: z.string(),
		url: z.string(),
		response: z.string(),
		responseStatusCode: z.number().int(),
		responseDurationMs: z.number().int(),
		status: z.number().int(),
		statusText: z.enum(STATUS_TEXT),
		triggerType: z.number().int().openapi({ description: "0 scheduled, 1 manual (a resend)" }),
		timestamp: z.string(),
		msg: MessageOut.optional(),
	})
	.openapi("MessageAttemptOut");

const EndpointMessageOut = MessageOut.extend({
	status: z.number().int(),
	statusText: z.enum(STATUS_TEXT),
	nextAttempt: z.string().nullable().optional(),
}).openapi("EndpointMessageOut");

const MessageEndpointOut = z
	.object({
		id: z.string(),
		url: z.string(),
		description: z.string(),
		uid: z.string().nullable().optional(),
		disabled: z.boolean(),
		filterTypes: z.array(z.string()).nullable().optional(),
		eventTypes: z.array(z.string()).nullable().optional(),
		channels: z.array(z.string()).nullable().optional(),
		rateLimit: z.number().int().nullable().optional(),
		throttleRate: z.number().int().nullable().optional(),
		version: z.number().int(),
		createdAt: z.string(),
		updatedAt: z.string(),
		status: z.number().int(),
		statusText: z.enum(STATUS_TEXT),
		nextAttempt: z.string().nullable().optional(),
	})
	.openapi("MessageEndpointOut");

function statusOut(status: SvixStatus): { status: SvixStatus; statusText: (typeof STATUS_TEXT)[number] } {
	return { status, statusText: STATUS_TEXT[status] };
}

/** A delivery's state as Svix's MessageStatus: a pending one with attempts made is retrying (`sending`). */
function deliveryStatus(delivery: NativeDelivery, expanded: boolean): SvixStatus {
	if (delivery.status === "success") return 0;
	if (delivery.status === "failed") return 2;
	if (delivery.status === "pending") return delivery.attempts > 0 ? 3 : 1;
	// Skipped: the endpoint's transformation dropped it, nothing was sent. Svix reads canceled as success without expanded statuses.
	return expanded ? 4 : 0;
}

/** The native delivery statuses a Svix status filter stands for; null when none can match. */
function nativeDeliveryStatus(status: number | undefined): string | undefined | null {
	switch (status) {
		case undefined:
			return undefined;
		case 0:
			return "success";
		case 2:
			return "failed";
		case 1:
		case 3:
			return "pending";
		case 4:
			return "skipped";
		default:
			return null;
	}
}

/** The attempt outcome a Svix status filter stands for: attempts only ever succeed or fail; null when none can match. */
function nativeAttemptStatus(status: number | undefined): "success" | "failed" | undefined | null {
	if (status === undefined) return undefined;
	if (status === 0) return "success";
	if (status === 2) return "failed";
	return null;
}

function attemptOut(attempt: NativeAttempt, url: string, withContent: boolean, withMsg: boolean) {
	const out: z.infer<typeof MessageAttemptOut> = {
		id: attempt.id,
		msgId: attempt.event_id,
		endpointId: attempt.endpoint_id,
		url,
		response: withContent ? (attempt.response_body ?? attempt.error ?? "") : "{}",
		// Svix reports an attempt that got no HTTP answer (a timeout, a refused connection) with status code 0.
		responseStatusCode: attempt.status_code ?? 0,
		responseDurationMs: Math.round(attempt.duration_ms),
		...statusOut(attempt.status === "success" ? 0 : 2),
		triggerType: attempt.trigger === "manual" ? 1 : 0,
		timestamp: attempt.started_at,
	};
	if (withMsg && attempt.event) out.msg = messageOut(attempt.event, withContent ? attempt.event.data : undefined);
	return out;
}

function endpointOut(webhook: NativeWebhook) {
	const eventTypes = webhook.events.includes("*") ? null : webhook.events;
	return {
		id: webhook.id,
		url: webhook.url ?? "",
		description: webhook.description,
		uid: webhook.uid ?? null,
		disabled: !webhook.active,
		filterTypes: eventTypes,
		eventTypes,
		channels: webhook.labels ?? null,
		rateLimit: webhook.rate_limit_per_second,
		throttleRate: webhook.rate_limit_per_second,
		version: 1,
		createdAt: webhook.created_at,
		updatedAt: webhook.updated_at,
	};
}

/** The endpoint an `{endpoint_id}` names (id, or uid once the native API takes uids). */
async function nativeEndpoint(c: Context<SvixEnv>, tenantId: string, endpointIdOrUid: string): Promise<NativeWebhook> {
	const answer = await c.var.native.attempt<NativeWebhook>({
		method: "GET",
		path: `/v1/webhooks/${encodeURIComponent(endpointIdOrUid)}`,
		tenantId,
	});
	if (answer instanceof ApiError) {
		if (answer.code === "validation_failed" || answer.code === "not_found") throw notFound("endpoint", endpointIdOrUid);
		throw answer;
	}
	return answer.body;
}

/** The URLs of the endpoints of some attempts, by endpoint id; a deleted endpoint's is "". */
async function endpointUrls(c: Context<SvixEnv>, tenantId: string, endpointIds: Iterable<string>) {
	const urls = new Map<string, string>();
	await Promise.all(
		[...new Set(endpointIds)].map(async (endpointId) => {
			const answer = await c.var.native.attempt<NativeWebhook>({
				method: "GET",
				path: `/v1/webhooks/${encodeURIComponent(endpointId)}`,
				tenantId,
			});
			if (answer instanceof ApiError && answer.code !== "not_found") throw answer;
			urls.set(endpointId, answer instanceof ApiError ? "" : (answer.body.url ?? ""));
		}),
	);
	return urls;
}

/** The query of GET /v1/attempts for Svix's attempt filters. */
function attemptQuery(query: z.infer<typeof AttemptFilters>, status: "success" | "failed" | undefined) {
	return {
		limit: query.limit,
		cursor: query.iterator,
		status,
		status_code_class: query.status_code_class,
		before: query.before,
		after: query.after,
		...eventListFilters(query),
	} satisfies Record<string, QueryValue>;
}

/** Svix's status_code_class takes the classes only; anything else is a 422 on the query, as Svix answers it. */
function checkStatusCodeClass(value: number | undefined): void {
	if (value !== undefined && ![0, 100, 200, 300, 400, 500].includes(value)) {
		throw svixInvalid(["query", "status_code_class"], "must be 0, 100, 200, 300, 400 or 500");
	}
}

const listByEndpointRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
	tags: ["Message Attempt"],
	summary: "List an endpoint's attempts, newest first",
	request: { params: EndpointParam, query: AttemptFilters.extend({ with_msg: Flag("false", "Include each message") }) },
	responses: {
		200: svixJson(svixListSchema(MessageAttemptOut, "ListResponseMessageAttemptOut"), "Attempts"),
		...svixErrors(400),
	},
});

const listByMsgRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
	tags: ["Message Attempt"],
	summary: "List a message's attempts, newest first",
	request: {
		params: MessageParam,
		query: AttemptFilters.extend({ endpoint_id: z.string().min(1).max(256).optional() }),
	},
	responses: {
		200: svixJson(svixListSchema(MessageAttemptOut, "ListResponseMessageAttemptOut"), "Attempts"),
		...svixErrors(400),
	},
});

const listAttemptedMessagesRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
	tags: ["Message Attempt"],
	summary: "List the messages attempted to an endpoint, newest first, with their delivery status",
	request: {
		params: EndpointParam,
		query: SvixListQuery.omit({ order: true }).extend({
			channel: z.string().min(1).max(128).optional(),
			tag: z.string().min(1).max(128).optional(),
			status: Status,
			before: SvixDateTime.optional(),
			after: SvixDateTime.optional(),
			with_content: Flag("true", "Include payloads; false answers `{}` in their place"),
			expanded_statuses: Flag("false", "Report skipped deliveries as canceled (4) rather than success"),
			event_types: EventTypesQuery,
		}),
	},
	responses: {
		200: svixJson(svixListSchema(EndpointMessageOut, "ListResponseEndpointMessageOut"), "Messages"),
		...svixErrors(400),
	},
});

const listAttemptedDestinationsRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
	tags: ["Message Attempt"],
	summary: "List the endpoints a message goes to, by id, with its delivery status at each",
	request: { params: MessageParam, query: SvixListQuery.omit({ order: true }) },
	responses: {
		200: svixJson(svixListSchema(MessageEndpointOut, "ListResponseMessageEndpointOut"), "Endpoints"),
		...svixErrors(400),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
	tags: ["Message Attempt"],
	summary: "Get an attempt",
	request: {
		params: MessageParam.extend({ attempt_id: z.string().min(1).max(64) }),
		query: z.object({ expanded_statuses: Flag("false", "Accepted; attempts are only ever success or fail") }),
	},
	responses: { 200: svixJson(MessageAttemptOut, "The attempt"), ...svixErrors() },
});

const resendRoute = createRoute({
	method: "post",
	path: "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
	tags: ["Message Attempt"],
	summary: "Send a message to an endpoint again now (an attempt with triggerType 1)",
	request: { params: MessageParam.extend({ endpoint_id: z.string().min(1).max(256) }) },
	responses: { 202: svixJson(z.object({}).openapi("EmptyResponse"), "The attempt is queued"), ...svixErrors(409) },
});

const EMPTY_LIST = svixList([], null);

/** A native event id in a path: a malformed one names no message. */
function missingMessage(error: ApiError, msgId: string): ApiError {
	return error.code === "validation_failed" ? notFound("message", msgId) : error;
}

export const attemptsRoutes = createSvixRouter()
	.openapi(listByEndpointRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointIdOrUid } = c.req.valid("param");
		const query = c.req.valid("query");
		checkStatusCodeClass(query.status_code_class);
		const tenantId = await resolveApp(c, appId);
		const endpoint = await nativeEndpoint(c, tenantId, endpointIdOrUid);
		const status = nativeAttemptStatus(query.status);
		if (status === null) return c.json(EMPTY_LIST, 200);
		const body = await listCall<{ attempts: NativeAttempt[]; next_cursor: string | null }>(c, {
			method: "GET",
			path: "/v1/attempts",
			tenantId,
			query: { ...attemptQuery(query, status), endpoint_id: endpoint.id, with_event: query.with_msg },
		});
		const url = endpoint.url ?? "";
		return c.json(
			svixList(
				body.attempts.map((attempt) => attemptOut(attempt, url, query.with_content, query.with_msg)),
				body.next_cursor,
			),
			200,
		);
	})
	.openapi(listByMsgRoute, async (c) => {
		const { app_id: appId, msg_id: msgId } = c.req.valid("param");
		const query = c.req.valid("query");
		checkStatusCodeClass(query.status_code_class);
		const tenantId = await resolveApp(c, appId);
		const endpointId =
			query.endpoint_id === undefined ? undefined : (await nativeEndpoint(c, tenantId, query.endpoint_id)).id;
		const status = nativeAttemptStatus(query.status);
		if (status === null) return c.json(EMPTY_LIST, 200);
		const answer = await c.var.native.attempt<{ attempts: NativeAttempt[]; next_cursor: string | null }>({
			method: "GET",
			path: "/v1/attempts",
			tenantId,
			query: { ...attemptQuery(query, status), event_id: msgId, endpoint_id: endpointId },
		});
		if (answer instanceof ApiError) throw asQueryProblem(answer);
		const urls = await endpointUrls(
			c,
			tenantId,
			answer.body.attempts.map((attempt) => attempt.endpoint_id),
		);
		return c.json(
			svixList(
				answer.body.attempts.map((attempt) =>
					attemptOut(attempt, urls.get(attempt.endpoint_id) ?? "", query.with_content, false),
				),
				answer.body.next_cursor,
			),
			200,
		);
	})
	.openapi(listAttemptedMessagesRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointIdOrUid } = c.req.valid("param");
		const query = c.req.valid("query");
		const tenantId = await resolveApp(c, appId);
		const endpoint = await nativeEndpoint(c, tenantId, endpointIdOrUid);
		const status = nativeDeliveryStatus(query.status);
		if (status === null) return c.json(EMPTY_LIST, 200);
		const body = await listCall<{ deliveries: NativeDelivery[]; next_cursor: string | null }>(c, {
			method: "GET",
			path: `/v1/webhooks/${encodeURIComponent(endpoint.id)}/deliveries`,
			tenantId,
			query: {
				limit: query.limit,
				cursor: query.iterator,
				status,
				since: query.after,
				until: query.before,
				with_event: true,
				...eventListFilters(query),
			},
		});
		const data = body.deliveries.flatMap((delivery) => {
			const svixStatus = deliveryStatus(delivery, query.expanded_statuses);
			// Svix's status 1 is a first attempt still to come, 3 a retry: the native list has both as pending.
			if (query.status !== undefined && svixStatus !== query.status) return [];
			// An event removed by retention leaves its deliveries behind for a while; they read with what the row knows.
			const event: NativeEvent = delivery.event ?? {
				id: delivery.event_id,
				type: delivery.event_type,
				created_at: delivery.created_at,
				labels: null,
				tags: null,
				deliver_at: null,
			};
			return [
				{
					...messageOut(event, query.with_content ? event.data : undefined),
					...statusOut(svixStatus),
					nextAttempt: delivery.status === "pending" ? delivery.next_attempt_at : null,
				},
			];
		});
		return c.json(svixList(data, body.next_cursor), 200);
	})
	.openapi(listAttemptedDestinationsRoute, async (c) => {
		const { app_id: appId, msg_id: msgId } = c.req.valid("param");
		const query = c.req.valid("query");
		const tenantId = await resolveApp(c, appId);
		const answer = await c.var.native.attempt<{ deliveries: NativeDelivery[] }>({
			method: "GET",
			path: `/v1/events/${encodeURIComponent(msgId)}`,
			tenantId,
		});
		if (answer instanceof ApiError) throw missingMessage(answer, msgId);
		// Ascending by endpoint id, as Svix lists them; the iterator is the last endpoint id of the page.
		const after = query.iterator;
		const remaining = answer.body.deliveries
			.filter((delivery) => after === undefined || delivery.endpoint_id > after)
			.sort((a, b) => (a.endpoint_id < b.endpoint_id ? -1 : a.endpoint_id > b.endpoint_id ? 1 : 0));
		const page = remaining.slice(0, query.limit);
		const endpoints = await Promise.all(
			page.map(async (delivery) => {
				const webhook = await c.var.native.attempt<NativeWebhook>({
					method: "GET",
					path: `/v1/webhooks/${encodeURIComponent(delivery.endpoint_id)}`,
					tenantId,
				});
				if (webhook instanceof ApiError) {
					// An endpoint deleted since: nothing to show of it.
					if (webhook.code === "not_found") return [];
					throw webhook;
				}
				return [
					{
						...endpointOut(webhook.body),
						...statusOut(deliveryStatus(delivery, true)),
						nextAttempt: delivery.status === "pending" ? delivery.next_attempt_at : null,
					},
				];
			}),
		);
		const last = page.at(-1);
		return c.json(svixList(endpoints.flat(), remaining.length > query.limit && last ? last.endpoint_id : null), 200);
	})
	.openapi(getRoute, async (c) => {
		const { app_id: appId, msg_id: msgId, attempt_id: attemptId } = c.req.valid("param");
		const tenantId = await resolveApp(c, appId);
		let cursor: string | undefined;
		// An event's attempts are few (its endpoints times their retries): read in pages until found.
		for (;;) {
			const answer = await c.var.native.attempt<{ attempts: NativeAttempt[]; next_cursor: string | null }>({
				method: "GET",
				path: "/v1/attempts",
				tenantId,
				query: { event_id: msgId, limit: 250, cursor },
			});
			if (answer instanceof ApiError) throw missingMessage(answer, msgId);
			const found = answer.body.attempts.find((attempt) => attempt.id === attemptId);
			if (found) {
				const urls = await endpointUrls(c, tenantId, [found.endpoint_id]);
				return c.json(attemptOut(found, urls.get(found.endpoint_id) ?? "", true, false), 200);
			}
			if (answer.body.next_cursor === null) throw notFound("attempt", attemptId);
			cursor = answer.body.next_cursor;
		}
	})
	.openapi(resendRoute, async (c) => {
		const { app_id: appId, msg_id: msgId, endpoint_id: endpointIdOrUid } = c.req.valid("param");
		const tenantId = await resolveApp(c, appId);
		const endpoint = await nativeEndpoint(c, tenantId, endpointIdOrUid);
		const answer = await c.var.native.attempt<{ id: string; attempt: number }>({
			method: "POST",
			path: `/v1/deliveries/${encodeURIComponent(publicDeliveryId(endpoint.id, msgId))}/retry`,
			tenantId,
		});
		if (answer instanceof ApiError) {
			if (answer.code === "not_found" || answer.code === "validation_failed") {
				throw notFound("message", `${msgId} to endpoint ${endpoint.id}`);
			}
			throw answer;
		}
		// Svix answers 202 with an empty object, which the SDKs parse as JSON.
		return c.json({}, 202);
	});
