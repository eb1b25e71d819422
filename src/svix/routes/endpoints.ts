import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { tenants } from "../../db/schema";
import { controlDatabase } from "../../db/tenant-database";
import type { HeaderStyle } from "../../delivery/request";
import { DEFAULT_SVIX_HEADER_STYLE, parseTenantSettings } from "../../delivery/settings";
import { ApiError, orUnavailable } from "../../lib/errors";
import { ID_PREFIX } from "../../lib/ids";
import { SecretSchema } from "../../routes/webhooks/schemas";
import { resolveApp } from "../apps";
import { svixInvalid } from "../errors";
import type { NativeRequest } from "../native";
import { nativeOrder, pageBothWays, SvixListQuery, svixListSchema } from "../paging";
import {
	createSvixRouter,
	optionalJsonBody,
	requiredJsonBody,
	SvixDateTime,
	type SvixEnv,
	svixErrors,
	svixJson,
} from "../router";
import { MessageOut, messageOut, type NativeEvent } from "./messages";

/*
 * Svix endpoints are Edgehook webhooks (/v1/webhooks): every operation here
 * calls the native route, as the caller, and renames. What Svix calls
 * `channels` are the native routing `labels`; `eventTypes` (v1 `filterTypes`)
 * are the native `events`, where "every type" is `["*"]`.
 */

/** Native field names and what the Svix caller called them, for the 422s the native API answers. */
const ENDPOINT_RENAMES = {
	events: "eventTypes",
	labels: "channels",
	rate_limit_per_second: "throttleRate",
	active: "disabled",
} as const;

/** A native endpoint, as much of it as the face reads. */
interface NativeEndpoint {
	id: string;
	uid: string | null;
	url: string | null;
	description: string;
	events: string[];
	labels: string[] | null;
	active: boolean;
	headers: Record<string, string>;
	metadata: Record<string, string>;
	rate_limit_per_second: number | null;
	created_at: string;
	updated_at: string;
}

/** Every event type, in the native API's terms. */
const EVERY_TYPE = ["*"];

const EventTypeNames = z.array(z.string()).nullable().optional();
const Channels = z.array(z.string()).nullable().optional();
const Metadata = z.record(z.string(), z.string());

const endpointFields = {
	url: z.string().openapi({ example: "https://example.com/webhooks" }),
	description: z.string().optional(),
	uid: z.string().nullable().optional(),
	throttleRate: z.number().int().nullable().optional(),
	rateLimit: z
		.number()
		.int()
		.nullable()
		.optional()
		.openapi({ description: "v1 name of throttleRate", deprecated: true }),
	disabled: z.boolean().optional(),
	eventTypes: EventTypeNames.openapi({ description: "null or missing: every event type" }),
	filterTypes: EventTypeNames.openapi({ description: "v1 name of eventTypes", deprecated: true }),
	channels: Channels,
	metadata: Metadata.optional(),
	version: z.number().int().optional().openapi({ description: "Accepted and ignored (Svix v1)", deprecated: true }),
};

const SvixEndpointIn = z
	.object({
		...endpointFields,
		secret: z
			.string()
			.nullable()
			.optional()
			.openapi({ description: "whsec_ + base64 of 24 to 75 bytes; generated when missing" }),
		headers: z.record(z.string(), z.string()).nullable().optional(),
	})
	.openapi("EndpointIn");

const SvixEndpointUpdate = z.object(endpointFields).openapi("EndpointUpdate");

const SvixEndpointPatch = z
	.object({
		...endpointFields,
		url: endpointFields.url.optional(),
		metadata: Metadata.nullable().optional(),
		secret: z.string().nullable().optional().openapi({ description: "Replaces the secret, as a rotation does" }),
	})
	.openapi("EndpointPatch");

const SvixEndpointOut = z
	.object({
		id: z.string().openapi({ example: "hook_3k9x2m7q1c8v4b6n" }),
		uid: z.string().optional(),
		url: z.string(),
		description: z.string(),
		disabled: z.boolean(),
		throttleRate: z.number().int().optional(),
		eventTypes: z.array(z.string()).optional(),
		filterTypes: z.array(z.string()).optional(),
		channels: z.array(z.string()).optional(),
		metadata: Metadata,
		createdAt: z.string(),
		updatedAt: z.string(),
	})
	.openapi("EndpointOut");

type SvixEndpoint = z.infer<typeof SvixEndpointOut>;

function endpointOut(native: NativeEndpoint): SvixEndpoint {
	const every = native.events.length === 1 && native.events[0] === "*";
	return {
		id: native.id,
		...(native.uid === null ? {} : { uid: native.uid }),
		url: native.url ?? "",
		description: native.description,
		disabled: !native.active,
		...(native.rate_limit_per_second === null ? {} : { throttleRate: native.rate_limit_per_second }),
		...(every ? {} : { eventTypes: native.events, filterTypes: native.events }),
		...(native.labels === null ? {} : { channels: native.labels }),
		metadata: native.metadata,
		createdAt: native.created_at,
		updatedAt: native.updated_at,
	};
}

/** A secret as Svix takes it, prefix optional, in the native form (whsec_ + base64); anything else goes on for the native check to refuse. */
function nativeSecret(secret: string): string {
	return /^[A-Za-z0-9+/=]+$/.test(secret) ? `whsec_${secret}` : secret;
}

/** The 422 renames of a body that named its event types with v1's `filterTypes`. */
function renamesFor(body: { filterTypes?: unknown; eventTypes?: unknown }): Record<string, string> {
	return body.eventTypes === undefined && body.filterTypes !== undefined
		? { ...ENDPOINT_RENAMES, events: "filterTypes" }
		: ENDPOINT_RENAMES;
}

/**
 * The native fields of a Svix body. `undefined` leaves a field alone (a
 * patch) and null clears it; `reset` (an upsert) puts a missing field back
 * to its default, as Svix's PUT replaces the whole endpoint.
 */
function nativeFields(body: z.infer<typeof SvixEndpointPatch>, reset: boolean): Record<string, unknown> {
	const types = body.eventTypes !== undefined ? body.eventTypes : body.filterTypes;
	const throttle = body.throttleRate !== undefined ? body.throttleRate : body.rateLimit;
	const pick = <T>(value: T | undefined, fallback: T): T | undefined =>
		value === undefined && reset ? fallback : value;
	const events = pick(types, null);
	const metadata = pick(body.metadata, null);
	const disabled = pick(body.disabled, false);
	return {
		url: body.url,
		description: pick(body.description, ""),
		uid: body.uid,
		rate_limit_per_second: pick(throttle, null),
		active: disabled === undefined ? undefined : !disabled,
		events: events === undefined ? undefined : (events ?? EVERY_TYPE),
		labels: pick(body.channels, null),
		metadata: metadata === undefined ? undefined : (metadata ?? {}),
	};
}

/** The header style the tenant gives endpoints created through this face (tenant setting `svix_header_style`). */
async function headerStyleOf(env: Env, tenantId: string): Promise<HeaderStyle> {
	const [row] = await orUnavailable("the tenant directory", () =>
		controlDatabase(env).select({ settings: tenants.settings }).from(tenants).where(eq(tenants.id, tenantId)),
	);
	return parseTenantSettings(row?.settings ?? "{}").svix_header_style ?? DEFAULT_SVIX_HEADER_STYLE;
}

function webhookPath(endpointId: string, rest = ""): string {
	return `/v1/webhooks/${encodeURIComponent(endpointId)}${rest}`;
}

/** Calls the native API for the application `{app_id}` names. */
async function onApp<T>(c: Context<SvixEnv>, appId: string, request: Omit<NativeRequest, "tenantId">) {
	const tenantId = await resolveApp(c, appId);
	return { tenantId, answer: await c.var.native.call<T>({ ...request, tenantId }) };
}

async function createEndpoint(
	c: Context<SvixEnv>,
	tenantId: string,
	body: z.infer<typeof SvixEndpointIn>,
	uid: string | null | undefined,
): Promise<NativeEndpoint> {
	const fields = nativeFields(body, true);
	const created = await c.var.native.call<NativeEndpoint>({
		method: "POST",
		path: "/v1/webhooks",
		tenantId,
		body: {
			...fields,
			uid: uid ?? undefined,
			labels: fields.labels ?? undefined,
			rate_limit_per_second: fields.rate_limit_per_second ?? undefined,
			secret: body.secret ? nativeSecret(body.secret) : undefined,
			headers: body.headers ?? undefined,
			header_style: await headerStyleOf(c.env, tenantId),
		},
		renames: renamesFor(body),
	});
	return created.body;
}

const AppParam = z.object({ app_id: z.string().min(1).max(256) });
const EndpointParams = AppParam.extend({ endpoint_id: z.string().min(1).max(256) });
const TAGS = ["Endpoint"];

const listRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/endpoint",
	tags: TAGS,
	summary: "List endpoints",
	description: "By id, descending unless `order=ascending`. Ids are random, so the order is stable but not by time.",
	request: { params: AppParam, query: SvixListQuery },
	responses: {
		200: svixJson(svixListSchema(SvixEndpointOut, "ListResponse_EndpointOut_"), "A page of endpoints"),
		...svixErrors(400),
	},
});

const createEndpointRoute = createRoute({
	method: "post",
	path: "/api/v1/app/{app_id}/endpoint",
	tags: TAGS,
	summary: "Create an endpoint",
	request: { params: AppParam, body: requiredJsonBody(SvixEndpointIn) },
	responses: { 201: svixJson(SvixEndpointOut, "The endpoint"), ...svixErrors(400, 409) },
});

const getRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
	tags: TAGS,
	summary: "Get an endpoint by id or uid",
	request: { params: EndpointParams },
	responses: { 200: svixJson(SvixEndpointOut, "The endpoint"), ...svixErrors() },
});

const upsertRoute = createRoute({
	method: "put",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
	tags: TAGS,
	summary: "Update an endpoint, or create it (with the path as its uid) when there is none",
	request: { params: EndpointParams, body: requiredJsonBody(SvixEndpointUpdate) },
	responses: {
		200: svixJson(SvixEndpointOut, "The updated endpoint"),
		201: svixJson(SvixEndpointOut, "The created endpoint"),
		...svixErrors(400, 409),
	},
});

const patchRoute = createRoute({
	method: "patch",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
	tags: TAGS,
	summary: "Change the fields given; null clears eventTypes (every type), channels, uid and throttleRate",
	request: { params: EndpointParams, body: requiredJsonBody(SvixEndpointPatch) },
	responses: { 200: svixJson(SvixEndpointOut, "The endpoint"), ...svixErrors(400, 409) },
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
	tags: TAGS,
	summary: "Delete an endpoint",
	request: { params: EndpointParams },
	responses: { 204: { description: "Deleted" }, ...svixErrors() },
});

const SecretOut = z.object({ key: z.string() }).openapi("EndpointSecretOut");

const getSecretRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",
	tags: TAGS,
	summary: "Get the endpoint's signing secret",
	request: { params: EndpointParams },
	responses: { 200: svixJson(SecretOut, "The secret"), ...svixErrors() },
});

const RotateIn = z
	.object({
		key: z.string().nullable().optional().openapi({ description: "The new secret; generated when missing" }),
		gracePeriodSeconds: z
			.number()
			.int()
			.optional()
			.openapi({ description: "How long the old secret also signs (default 24 h)" }),
	})
	.openapi("EndpointSecretRotateIn");

const rotateRoute = createRoute({
	method: "post",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
	tags: TAGS,
	summary: "Replace the signing secret; the old one keeps signing for the grace period",
	request: { params: EndpointParams, body: optionalJsonBody(RotateIn) },
	responses: { 204: { description: "Rotated" }, ...svixErrors(400) },
});

/** Header names whose values Svix reports as `sensitive`, outside `headers` (../shared/SVIX-API.md section 2). */
const SENSITIVE_HEADERS = new Set([
	"authorization",
	"x-api-key",
	"x-auth-token",
	"www-authenticate",
	"proxy-authenticate",
	"proxy-authorization",
]);

const HeadersOut = z
	.object({ headers: z.record(z.string(), z.string()), sensitive: z.array(z.string()) })
	.openapi("EndpointHeadersOut");
const HeadersIn = z.object({ headers: z.record(z.string(), z.string()) }).openapi("EndpointHeadersIn");
const HeadersPatchIn = z
	.object({
		headers: z.record(z.string(), z.string().nullable()),
		deleteHeaders: z.array(z.string()).optional(),
	})
	.openapi("EndpointHeadersPatchIn");

const getHeadersRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
	tags: TAGS,
	summary: "The endpoint's custom headers; credentials are named in `sensitive`, their values left out",
	request: { params: EndpointParams },
	responses: { 200: svixJson(HeadersOut, "The headers"), ...svixErrors() },
});

const setHeadersRoute = createRoute({
	method: "put",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
	tags: TAGS,
	summary: "Replace the endpoint's custom headers",
	request: { params: EndpointParams, body: requiredJsonBody(HeadersIn) },
	responses: { 204: { description: "Replaced" }, ...svixErrors(400) },
});

const patchHeadersRoute = createRoute({
	method: "patch",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
	tags: TAGS,
	summary: "Set the headers given; a null value or a name in deleteHeaders removes one",
	request: { params: EndpointParams, body: requiredJsonBody(HeadersPatchIn) },
	responses: { 204: { description: "Changed" }, ...svixErrors(400) },
});

const StatsOut = z
	.object({
		success: z.number().int(),
		pending: z.number().int(),
		sending: z.number().int(),
		fail: z.number().int(),
		canceled: z.number().int(),
	})
	.openapi("EndpointStats");

const StatsQuery = z.object({
	since: SvixDateTime.optional().openapi({ description: "Default: 7 days ago" }),
	until: SvixDateTime.optional(),
});

const statsRoute = createRoute({
	method: "get",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
	tags: TAGS,
	summary: "Messages to the endpoint by their status",
	description:
		"Counted over the deliveries created in [since, until) (default: the last 7 days), at most the newest 20,000. `sending` is always 0: a delivery being sent is `pending`. `canceled` counts deliveries a transformation or template dropped.",
	request: { params: EndpointParams, query: StatsQuery },
	responses: { 200: svixJson(StatsOut, "The counts"), ...svixErrors() },
});

const ExampleIn = z
	.object({
		eventType: z.string().openapi({ example: "user.created" }),
		exampleIndex: z.number().int().optional().openapi({ description: "Accepted and ignored: a type has one example" }),
	})
	.openapi("EventExampleIn");

const sendExampleRoute = createRoute({
	method: "post",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
	tags: TAGS,
	summary: "Send the event type's example payload (or {}) to this endpoint alone",
	request: { params: EndpointParams, body: requiredJsonBody(ExampleIn) },
	responses: { 202: svixJson(MessageOut, "The message sent"), ...svixErrors(400, 409) },
});

const RecoverIn = z.object({ since: SvixDateTime, until: SvixDateTime.nullable().optional() }).openapi("RecoverIn");

const RecoverOut = z
	.object({
		id: z.string().openapi({ example: "task_3k9x2m7q1c8v4b6n" }),
		status: z.enum(["running", "finished", "failed"]),
		task: z.literal("endpoint.recover"),
		updatedAt: z.string(),
	})
	.openapi("RecoverOut");

const recoverRoute = createRoute({
	method: "post",
	path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
	tags: TAGS,
	summary: "Re-send the endpoint's failed messages since a time, as a background task",
	description: "The window is at most 14 days. Follow the task with GET /api/v1/background-task/{task_id}.",
	request: { params: EndpointParams, body: requiredJsonBody(RecoverIn) },
	responses: { 202: svixJson(RecoverOut, "The recover task"), ...svixErrors(400, 409) },
});

/** A native task, as much as the face reads. */
export interface NativeTask {
	id: string;
	status: "queued" | "running" | "completed" | "failed";
	done: number;
	updated_at: string;
}

/** Svix's three task states: a queued task is running for it. */
export function svixTaskStatus(status: NativeTask["status"]): "running" | "finished" | "failed" {
	return status === "completed" ? "finished" : status === "failed" ? "failed" : "running";
}

export const endpointsRoutes = createSvixRouter()
	.openapi(listRoute, async (c) => {
		const { app_id: appId } = c.req.valid("param");
		const { limit, iterator, order } = c.req.valid("query");
		const tenantId = await resolveApp(c, appId);
		const list = await pageBothWays(
			iterator,
			nativeOrder(order) ?? "desc",
			async (direction, cursor) => {
				const page = await c.var.native.call<{ webhooks: NativeEndpoint[]; next_cursor: string | null }>({
					method: "GET",
					path: "/v1/webhooks",
					tenantId,
					query: { limit, cursor, order: direction },
				});
				return { items: page.body.webhooks, more: page.body.next_cursor !== null };
			},
			(endpoint) => endpoint.id,
			endpointOut,
		);
		return c.json(list, 200);
	})
	.openapi(createEndpointRoute, async (c) => {
		const { app_id: appId } = c.req.valid("param");
		const body = c.req.valid("json");
		const tenantId = await resolveApp(c, appId);
		return c.json(endpointOut(await createEndpoint(c, tenantId, body, body.uid)), 201);
	})
	.openapi(getRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { answer } = await onApp<NativeEndpoint>(c, appId, { method: "GET", path: webhookPath(endpointId) });
		return c.json(endpointOut(answer.body), 200);
	})
	.openapi(upsertRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const body = c.req.valid("json");
		const tenantId = await resolveApp(c, appId);
		const existing = await c.var.native.attempt<NativeEndpoint>({
			method: "GET",
			path: webhookPath(endpointId),
			tenantId,
		});
		if (existing instanceof ApiError) {
			if (existing.code !== "not_found") throw existing;
			// Named by a uid that no endpoint has yet: the new endpoint takes it, unless the body gives its own.
			const uid = body.uid ?? (endpointId.startsWith(ID_PREFIX.endpoint) ? undefined : endpointId);
			return c.json(endpointOut(await createEndpoint(c, tenantId, body, uid)), 201);
		}
		const updated = await c.var.native.call<NativeEndpoint>({
			method: "PATCH",
			path: webhookPath(existing.body.id),
			tenantId,
			body: nativeFields(body, true),
			renames: renamesFor(body),
		});
		return c.json(endpointOut(updated.body), 200);
	})
	.openapi(patchRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const body = c.req.valid("json");
		const tenantId = await resolveApp(c, appId);
		const secret = typeof body.secret === "string" ? nativeSecret(body.secret) : null;
		// The secret goes through the rotation route after the patch: checked first, by the native rule, so that a
		// bad secret stores nothing rather than half the change.
		if (secret !== null) {
			const problem = SecretSchema.safeParse(secret);
			if (!problem.success) throw svixInvalid(["body", "secret"], problem.error.issues[0]?.message ?? "is not valid");
		}
		const { id } = (await c.var.native.call<NativeEndpoint>({ method: "GET", path: webhookPath(endpointId), tenantId }))
			.body;
		let updated = await c.var.native.call<NativeEndpoint>({
			method: "PATCH",
			path: webhookPath(id),
			tenantId,
			body: nativeFields(body, false),
			renames: renamesFor(body),
		});
		if (secret !== null) {
			await c.var.native.call({ method: "POST", path: webhookPath(id, "/rotate-secret"), tenantId, body: { secret } });
			updated = await c.var.native.call<NativeEndpoint>({ method: "GET", path: webhookPath(id), tenantId });
		}
		return c.json(endpointOut(updated.body), 200);
	})
	.openapi(deleteRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		await onApp(c, appId, { method: "DELETE", path: webhookPath(endpointId) });
		return c.body(null, 204);
	})
	.openapi(getSecretRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { answer } = await onApp<{ secret: string }>(c, appId, {
			method: "GET",
			path: webhookPath(endpointId, "/secret"),
		});
		return c.json({ key: answer.body.secret }, 200);
	})
	.openapi(rotateRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const body = c.req.valid("json") ?? {};
		await onApp(c, appId, {
			method: "POST",
			path: webhookPath(endpointId, "/rotate-secret"),
			body: {
				secret: body.key ? nativeSecret(body.key) : undefined,
				grace_period_seconds: body.gracePeriodSeconds,
			},
			renames: { secret: "key", grace_period_seconds: "gracePeriodSeconds" },
		});
		return c.body(null, 204);
	})
	.openapi(getHeadersRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { answer } = await onApp<NativeEndpoint>(c, appId, { method: "GET", path: webhookPath(endpointId) });
		const headers: Record<string, string> = {};
		const sensitive: string[] = [];
		for (const [name, value] of Object.entries(answer.body.headers)) {
			if (SENSITIVE_HEADERS.has(name.toLowerCase())) sensitive.push(name);
			else headers[name] = value;
		}
		return c.json({ headers, sensitive }, 200);
	})
	.openapi(setHeadersRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { headers } = c.req.valid("json");
		await onApp(c, appId, { method: "PATCH", path: webhookPath(endpointId), body: { headers } });
		return c.body(null, 204);
	})
	.openapi(patchHeadersRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const patch = c.req.valid("json");
		const tenantId = await resolveApp(c, appId);
		const current = await c.var.native.call<NativeEndpoint>({ method: "GET", path: webhookPath(endpointId), tenantId });
		// Header names are case-insensitive: a patch of Authorization replaces a stored authorization.
		const removed = new Set([
			...Object.keys(patch.headers).map((name) => name.toLowerCase()),
			...(patch.deleteHeaders ?? []).map((name) => name.toLowerCase()),
		]);
		const headers: Record<string, string> = Object.fromEntries(
			Object.entries(current.body.headers).filter(([name]) => !removed.has(name.toLowerCase())),
		);
		for (const [name, value] of Object.entries(patch.headers)) {
			if (value !== null) headers[name] = value;
		}
		await c.var.native.call({ method: "PATCH", path: webhookPath(current.body.id), tenantId, body: { headers } });
		return c.body(null, 204);
	})
	.openapi(statsRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { since, until } = c.req.valid("query");
		const { answer } = await onApp<{
			totals: { succeeded: number; failed: number; pending: number; skipped: number };
		}>(c, appId, {
			method: "GET",
			path: webhookPath(endpointId, "/stats"),
			query: { window: "7d", since, until },
		});
		const { totals } = answer.body;
		return c.json(
			{
				success: totals.succeeded,
				pending: totals.pending,
				sending: 0,
				fail: totals.failed,
				canceled: totals.skipped,
			},
			200,
		);
	})
	.openapi(sendExampleRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { eventType } = c.req.valid("json");
		const { tenantId, answer } = await onApp<{ event_id: string }>(c, appId, {
			method: "POST",
			path: webhookPath(endpointId, "/test"),
			body: { event_type: eventType },
			renames: { event_type: "eventType" },
		});
		const event = await c.var.native.call<NativeEvent>({
			method: "GET",
			path: `/v1/events/${encodeURIComponent(answer.body.event_id)}`,
			tenantId,
		});
		return c.json(messageOut(event.body, event.body.data), 202);
	})
	.openapi(recoverRoute, async (c) => {
		const { app_id: appId, endpoint_id: endpointId } = c.req.valid("param");
		const { since, until } = c.req.valid("json");
		const { answer } = await onApp<NativeTask>(c, appId, {
			method: "POST",
			path: webhookPath(endpointId, "/recover"),
			body: { since, until: until ?? undefined },
		});
		const task = answer.body;
		return c.json(
			{
				id: task.id,
				status: svixTaskStatus(task.status),
				task: "endpoint.recover" as const,
				updatedAt: task.updated_at,
			},
			202,
		);
	});
