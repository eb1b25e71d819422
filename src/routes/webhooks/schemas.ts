import { z } from "@hono/zod-openapi";
import { CHANNELS, MAX_EMAIL_RECIPIENTS, recipientsOf } from "../../channels/targets";
import { MAX_TRANSFORMATION_LENGTH } from "../../channels/transform";
import type { EndpointRow } from "../../db/schema";
import { EVENT_FILTER_PATTERN } from "../../delivery/event-filter";
import { isReservedHeaderName } from "../../delivery/request";
import { isValidSchedule } from "../../delivery/retry-policy";
import { DEFAULT_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY, MAX_TIMEOUT_MS } from "../../delivery/settings";
import { MAX_SECRET_BYTES, MIN_SECRET_BYTES, standardWebhooksKey } from "../../delivery/signing";
import { MAX_URL_LENGTH, maskTargetUrl } from "../../delivery/target-url";
import { ID_PREFIX } from "../../lib/ids";
import type { CircuitState } from "../../scheduler/circuit";
import { iso } from "../shared";

/** An HTTP token (RFC 9110), the only thing a header name may be. */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Visible characters, spaces and tabs: a CR or LF in a header value would split the request. */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;

/** Svix's other key prefixes: asymmetric (ed25519) signing keys, which Edgehook does not sign with. */
const ASYMMETRIC_KEY_PREFIX = /^(whsk1?_|whpk1?_)/;

export const SecretSchema = z
	.string()
	.max(200)
	.superRefine((secret, ctx) => {
		if (ASYMMETRIC_KEY_PREFIX.test(secret)) {
			ctx.addIssue({
				code: "custom",
				message:
					"asymmetric keys (whsk_, whpk_) are not supported: Edgehook signs with HMAC-SHA256, give a whsec_ secret",
			});
			return;
		}
		const key = standardWebhooksKey(secret);
		if (
			!secret.startsWith("whsec_") ||
			key === null ||
			key.length < MIN_SECRET_BYTES ||
			key.length > MAX_SECRET_BYTES
		) {
			ctx.addIssue({
				code: "custom",
				message: `must be whsec_ followed by the base64 of ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`,
			});
		}
	})
	.openapi({ example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" });

/** The caller's own name for an endpoint (Svix's `uid`), usable in every /v1/webhooks/{id} path in place of the id. */
export const EndpointUid = z
	.string()
	.min(1)
	.max(256)
	.regex(/^[a-zA-Z0-9\-_.]+$/, "must be letters, digits, -, _ and . only")
	.refine((uid) => !uid.startsWith(ID_PREFIX.endpoint), `must not start with ${ID_PREFIX.endpoint}, the prefix of ids`)
	.openapi({
		description: "Unique within the tenant; usable in place of the id in paths",
		example: "customer-42-main",
	});

/**
 * Routing labels (Svix `channels`): an event that carries labels reaches only
 * the endpoints listing one of them. Not to be confused with `channel`, the
 * way a delivery is sent.
 */
export const EndpointLabels = z
	.array(
		z
			.string()
			.min(1)
			.max(128)
			.regex(/^[a-zA-Z0-9\-_.:+]+$/, "must be letters, digits and - _ . : + only"),
	)
	.min(1, "must name at least one label, or be null for every event")
	.max(10)
	.openapi({
		description:
			"Routing labels (Svix channels): events carrying labels reach only endpoints listing one of them; null receives every event of its types",
		example: ["project-7"],
	});

export const HeaderStyle = z.enum(["webhook", "svix"]).openapi({
	description:
		"webhook (default): the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature; svix: the same values as svix-id, svix-timestamp and svix-signature, as Svix sends them",
});

const EventFilters = z
	.array(z.string().max(128).regex(EVENT_FILTER_PATTERN, "must be an event type, a prefix wildcard like user.* or *"))
	.min(1, "must name at least one event type (or * for every type)")
	.max(100)
	.openapi({ example: ["user.created", "project.*"] });

const CustomHeaders = z
	.record(
		z.string().regex(HEADER_NAME, "must be a valid header name").max(256),
		z.string().max(4096).regex(HEADER_VALUE, "must not contain control characters such as CR or LF"),
	)
	.refine((headers) => Object.keys(headers).length <= 20, "at most 20 headers")
	.refine(
		(headers) => Object.keys(headers).every((name) => !isReservedHeaderName(name)),
		"may not set content-type, user-agent, the webhook-*, svix-* and X-Webhook-* headers or connection headers",
	);

const Metadata = z.record(z.string().max(128), z.string().max(1024));

export const RetrySchedule = z
	.array(z.number().int().min(0))
	.refine(isValidSchedule, "at most 20 delays, each 0 to 604800 seconds")
	.openapi({ description: "Seconds before attempts 2..N", example: [60, 300, 1800, 7200] });

/** Beyond this a pace is no limit at all for one endpoint's scheduler and a consumer's six connections. */
export const MAX_RATE_LIMIT_PER_SECOND = 1000;

export const TimeoutMs = z.number().int().min(100).max(MAX_TIMEOUT_MS);

export const ChannelSchema = z.enum(CHANNELS).openapi({
	description:
		"webhook: a signed HTTP POST of the event; slack and discord: a message to an incoming-webhook URL; email: messages to `to`",
});

const Recipients = z
	.array(z.email("must be an email address").max(254))
	.min(1)
	.max(MAX_EMAIL_RECIPIENTS)
	.refine(
		(addresses) => new Set(addresses.map((address) => address.toLowerCase())).size === addresses.length,
		"must not name an address twice: each would get every message twice",
	)
	.openapi({ description: "The email channel's addresses", example: ["ops@example.com"] });

export const TransformationSchema = z.string().max(MAX_TRANSFORMATION_LENGTH).openapi({
	description:
		"A JSONata expression over the envelope; its result is the body sent. A result of nothing skips the delivery.",
	example: '{"kind": type, "user": data.email}',
});

export const EndpointIn = z
	.strictObject({
		url: z
			.string()
			.max(MAX_URL_LENGTH)
			.optional()
			.openapi({ description: "Required unless the channel is email", example: "https://example.com/webhooks" }),
		events: EventFilters,
		secret: SecretSchema.optional(),
		active: z.boolean().optional(),
		description: z.string().max(1024).optional(),
		metadata: Metadata.optional(),
		headers: CustomHeaders.optional(),
		retry_schedule: RetrySchedule.nullable().optional(),
		timeout_ms: TimeoutMs.nullable().optional(),
		rate_limit_per_second: z
			.number()
			.int()
			.min(1)
			.max(MAX_RATE_LIMIT_PER_SECOND)
			.nullable()
			.optional()
			.openapi({ description: "At most this many deliveries a second; more wait, none are dropped" }),
		max_concurrency: z
			.number()
			.int()
			.min(1)
			.max(MAX_MAX_CONCURRENCY)
			.nullable()
			.optional()
			.openapi({
				description: `At most this many attempts in flight to the endpoint at once; null for the default, ${DEFAULT_MAX_CONCURRENCY}. More wait, none are dropped`,
			}),
		ordering: z
			.enum(["unordered", "ordered"])
			.optional()
			.openapi({ description: "ordered: one delivery at a time, in ingest order, each after the previous settled" }),
		channel: ChannelSchema.optional(),
		to: Recipients.optional(),
		transformation: TransformationSchema.nullable().optional(),
		uid: EndpointUid.optional(),
		labels: EndpointLabels.nullable().optional(),
		header_style: HeaderStyle.optional(),
	})
	.openapi("EndpointIn");

/** Every field of EndpointIn but the secret (rotation has its own route), all optional; null clears uid and labels. */
export const EndpointPatch = EndpointIn.omit({ secret: true })
	.partial()
	.extend({ uid: EndpointUid.nullable().optional(), labels: EndpointLabels.nullable().optional() })
	.openapi("EndpointPatch");

export const CircuitOut = z
	.object({
		state: z.enum(["closed", "open", "half_open"]),
		since: z.string().openapi({ description: "When it entered this state" }),
		failures_in_a_row: z.number().int(),
		next_probe_at: z.string().nullable().openapi({ description: "While open: when one delivery goes out as a probe" }),
		last_status_code: z.number().int().nullable(),
		last_error: z.string().nullable(),
	})
	.openapi("Circuit");

export function circuitOut(circuit: CircuitState): z.infer<typeof CircuitOut> {
	return {
		state: circuit.state,
		since: iso(circuit.since),
		failures_in_a_row: circuit.failuresInRow,
		next_probe_at: iso(circuit.nextProbeAt),
		last_status_code: circuit.lastStatusCode,
		last_error: circuit.lastError,
	};
}

export const EndpointOut = z
	.object({
		id: z.string().openapi({ example: "hook_3k9x2m7q1c8v4b6n" }),
		uid: z.string().nullable().openapi({ description: "The caller's own name for it, usable in place of the id" }),
		channel: ChannelSchema,
		url: z.string().nullable().openapi({
			description:
				"null for the email channel. A read-only portal sees it masked: scheme and host, then … and its last 4 characters",
		}),
		to: z.array(z.string()).nullable().openapi({ description: "The email channel's addresses; null otherwise" }),
		transformation: z.string().nullable(),
		description: z.string(),
		events: z.array(z.string()),
		labels: z.array(z.string()).nullable().openapi({ description: "Routing labels; null receives every event" }),
		header_style: HeaderStyle,
		secret: z.string().openapi({ description: "In full on create, masked to its last 4 characters elsewhere" }),
		active: z.boolean(),
		disabled_reason: z.string().nullable(),
		headers: z
			.record(z.string(), z.string())
			.openapi({ description: "Custom headers; a read-only portal sees their names, each value as …" }),
		metadata: z.record(z.string(), z.string()),
		retry_schedule: z.array(z.number()).nullable(),
		timeout_ms: z.number().nullable(),
		rate_limit_per_second: z.number().nullable(),
		max_concurrency: z
			.number()
			.nullable()
			.openapi({ description: `null: the default, ${DEFAULT_MAX_CONCURRENCY} attempts in flight at once` }),
		ordering: z.enum(["unordered", "ordered"]),
		failing_since: z
			.string()
			.nullable()
			.openapi({ description: "When its current run of failed attempts began; null while it succeeds" }),
		circuit: CircuitOut.optional().openapi({ description: "Its circuit breaker; on GET /v1/webhooks/{id} only" }),
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("EndpointOut");

export function maskSecret(secret: string): string {
	return `****…${secret.slice(-4)}`;
}

/** How much of an endpoint's credentials an answer shows. */
export interface EndpointView {
	/** The secret in full (once, on create) rather than its last 4 characters. */
	revealSecret: boolean;
	/** For a caller who may see no credentials (a read-only portal): the URL masked and custom header values hidden. */
	hideCredentials: boolean;
}

const HIDDEN_HEADER_VALUE = "…";

export function endpointOut(row: EndpointRow, view: EndpointView): z.infer<typeof EndpointOut> {
	const headers = JSON.parse(row.headers) as Record<string, string>;
	return {
		id: row.id,
		uid: row.uid,
		channel: row.channel,
		url: row.channel === "email" ? null : view.hideCredentials ? maskTargetUrl(row.url) : row.url,
		to: recipientsOf(row),
		transformation: row.transformation,
		description: row.description,
		events: JSON.parse(row.events) as string[],
		labels: row.labels === null ? null : (JSON.parse(row.labels) as string[]),
		header_style: row.headerStyle,
		secret: view.revealSecret && !view.hideCredentials ? row.secret : maskSecret(row.secret),
		active: row.active,
		disabled_reason: row.disabledReason,
		headers: view.hideCredentials
			? Object.fromEntries(Object.keys(headers).map((name) => [name, HIDDEN_HEADER_VALUE]))
			: headers,
		metadata: JSON.parse(row.metadata) as Record<string, string>,
		retry_schedule: row.retrySchedule === null ? null : (JSON.parse(row.retrySchedule) as number[]),
		timeout_ms: row.timeoutMs,
		rate_limit_per_second: row.rateLimitPerSecond,
		max_concurrency: row.maxConcurrency,
		ordering: row.ordering,
		failing_since: iso(row.failingSince),
		created_at: iso(row.createdAt),
		updated_at: iso(row.updatedAt),
	};
}
