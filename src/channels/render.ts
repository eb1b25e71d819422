import { deliveryPath } from "../dashboard/paths";
import type { EndpointRow, EventRow } from "../db/schema";
import { serializeEnvelope } from "../delivery/envelope";
import { discordMessage } from "./discord";
import { type EmailContent, emailContent, escapeHtml } from "./email-content";
import type { NotificationInput } from "./input";
import { slackMessage } from "./slack";
import type { TemplatedChannel } from "./targets";
import { MAX_OUTPUT_BYTES, runTransformation } from "./transform";

/** What one delivery sends, before signing: a JSON body to POST, an email, or nothing. */
export type RenderedMessage =
	| { kind: "http"; body: string }
	| { kind: "email"; content: EmailContent }
	/** The endpoint's transformation produced nothing: the delivery is skipped. */
	| { kind: "dropped"; source: string }
	/** The transformation or template failed: nothing is sent rather than a wrong body. */
	| { kind: "error"; message: string; source: string };

/** A tenant's templates, keyed by `templateKey`. */
export type TemplateLookup = ReadonlyMap<string, string>;

function templateKey(tenantId: string, channel: TemplatedChannel, eventType: string): string {
	return `${tenantId}/${channel}/${eventType}`;
}

/** The lookup of some tenants' template rows. */
export function templateLookup(
	rows: readonly { tenantId: string; channel: TemplatedChannel; eventType: string; expression: string }[],
): TemplateLookup {
	return new Map(rows.map((row) => [templateKey(row.tenantId, row.channel, row.eventType), row.expression]));
}

/** The tenant's template for this channel and event type: its own, else the one for every type (`*`). */
export function templateFor(
	templates: TemplateLookup,
	tenantId: string,
	channel: TemplatedChannel,
	eventType: string,
): string | null {
	return (
		templates.get(templateKey(tenantId, channel, eventType)) ??
		templates.get(templateKey(tenantId, channel, "*")) ??
		null
	);
}

export interface RenderInput {
	event: Pick<EventRow, "id" | "type" | "createdAt" | "data">;
	endpoint: Pick<EndpointRow, "tenantId" | "channel" | "transformation">;
	templates: TemplateLookup;
	deliveryId: string;
	/** Where people reach this deployment, without a trailing slash; empty when not configured. */
	publicBaseUrl: string;
}

/**
 * The message of one delivery. The endpoint's transformation wins; else a
 * chat or email channel takes the tenant's template for the event type; else
 * the built-in layout. A plain webhook without a transformation sends the
 * envelope as it is signed today, without parsing it.
 */
export async function renderMessage(input: RenderInput): Promise<RenderedMessage> {
	const { event, endpoint } = input;
	const envelopeJson = serializeEnvelope({
		id: event.id,
		type: event.type,
		createdAtMs: event.createdAt,
		dataJson: event.data,
	});
	const channel = endpoint.channel;
	const expression =
		endpoint.transformation ??
		(channel === "webhook" ? null : templateFor(input.templates, endpoint.tenantId, channel, event.type));
	if (expression === null && channel === "webhook") return { kind: "http", body: envelopeJson };

	const envelope = JSON.parse(envelopeJson) as { id: string; type: string; created_at: string; data: unknown };
	if (expression !== null) {
		const source =
			endpoint.transformation !== null ? "the endpoint's transformation" : `the tenant's ${channel} template`;
		const outcome = await runTransformation(expression, envelope);
		if (outcome.kind === "error") return { ...outcome, source };
		if (outcome.kind === "dropped") return { kind: "dropped", source };
		if (channel === "discord") {
			const body = withoutPings(outcome.value, outcome.json);
			// The mention setting added to a result that just fit could take it past the limit.
			if (new TextEncoder().encode(body).byteLength > MAX_OUTPUT_BYTES) {
				return { kind: "error", message: `the result is larger than ${MAX_OUTPUT_BYTES} bytes`, source };
			}
			return { kind: "http", body };
		}
		if (channel !== "email") return { kind: "http", body: outcome.json };
		const email = emailFromResult(outcome.value);
		return typeof email === "string" ? { kind: "error", message: email, source } : { kind: "email", content: email };
	}
	const notification: NotificationInput = {
		envelope: { id: envelope.id, type: envelope.type, timestamp: envelope.created_at, data: envelope.data },
		deliveryUrl:
			input.publicBaseUrl === "" ? null : `${input.publicBaseUrl}${deliveryPath(endpoint.tenantId, input.deliveryId)}`,
	};
	if (channel === "slack") return { kind: "http", body: JSON.stringify(slackMessage(notification)) };
	if (channel === "discord") return { kind: "http", body: JSON.stringify(discordMessage(notification)) };
	return { kind: "email", content: emailContent(notification) };
}

/** An email transformation's result, `{subject, text, html?}`, or why it is not one. */
function emailFromResult(value: unknown): EmailContent | string {
	const fields = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
	const { subject, text, html } = fields;
	if (typeof subject !== "string" || typeof text !== "string" || (html !== undefined && typeof html !== "string")) {
		return "an email channel's result must be an object {subject: string, text: string, html?: string}";
	}
	if (/\p{Cc}/u.test(subject)) return "the email subject may not contain line breaks or other control characters";
	// Without html, the text is shown as it is.
	return {
		subject,
		text,
		html: html ?? `<pre style="font-family:inherit;white-space:pre-wrap">${escapeHtml(text)}</pre>`,
	};
}

/**
 * A Discord message from a template or transformation pings nobody unless it
 * says whom it may: Discord's default would let `@everyone` in the data ping.
 */
function withoutPings(value: unknown, json: string): string {
	if (typeof value !== "object" || value === null || Array.isArray(value) || "allowed_mentions" in value) return json;
	return JSON.stringify({ ...value, allowed_mentions: { parse: [] } });
}

/** Where links to this deployment point: PUBLIC_BASE_URL without trailing slashes, or empty. */
export function publicBaseUrl(env: Pick<Env, "PUBLIC_BASE_URL">): string {
	return (env.PUBLIC_BASE_URL ?? "").trim().replace(/\/+$/, "");
}
