import type { EmailContent } from "../channels/email-content";
import { EMAIL_NOT_ALLOWED, emailAllowedFor, sendEmail } from "../channels/email-send";
import { type RenderedMessage, type RenderInput, renderMessage, type TemplateLookup } from "../channels/render";
import { endpointUrlProblem, recipientsOf } from "../channels/targets";
import type { DeliveryRow, EndpointRow, EventRow } from "../db/schema";
import type { AttemptRecord, AttemptTrigger } from "../delivery/attempt-record";
import { classifyResponse } from "../delivery/outcome";
import { buildSignedHeaders } from "../delivery/request";
import { maxAttempts, nextRetryDelayMs } from "../delivery/retry-policy";
import { signingSecrets } from "../delivery/secrets";
import { type DeploymentDefaults, effectiveDeliveryPolicy, type TenantSettings } from "../delivery/settings";
import { newAttemptId, publicDeliveryId } from "../lib/ids";
import { count } from "../lib/metering";
import { type AttemptResult, sendAttempt } from "./send-attempt";

/** An attempt this slow (or a timeout) moves its endpoint to the slow lane. */
export const SLOW_ATTEMPT_MS = 1000;
/** How long an endpoint stays in the slow lane after its last slow attempt. */
export const SLOW_LANE_MS = 5 * 60 * 1000;

export interface PlannedAttempt {
	message: Message<unknown>;
	tenantId: string;
	event: EventRow;
	endpointId: string;
	deliveryId: string;
	attempt: number;
	trigger: AttemptTrigger;
	/** The delivery's status before this attempt; undefined for a first attempt. */
	previousStatus: string | undefined;
	/** Released by the endpoint's scheduler, so already past its circuit breaker. */
	admitted: boolean;
	/** Queued again by the sweeper: see DeliveryJob.swept. */
	swept: boolean;
}

export interface Outcome {
	planned: PlannedAttempt;
	status: DeliveryRow["status"];
	/** The attempt made, or null when the delivery was settled without sending. */
	record: AttemptRecord | null;
	error: string | null;
	nextAttemptAtMs: number | null;
	/** A failed manual resend leaves the delivery's scheduled retry where it was. */
	keepSchedule: boolean;
	disableEndpoint: string | null;
	/** The endpoint's new slow-lane deadline, null to clear it, undefined to leave it. */
	slowUntil?: number | null;
	/**
	 * What the attempt says about the endpoint's health, or null when nothing
	 * reached the receiver (held back, refused, endpoint gone).
	 */
	health: "success" | "failure" | null;
	/** Until when a 429's Retry-After asks for nothing more to be sent to the endpoint (ms), or null. */
	pauseUntil: number | null;
}

/**
 * The endpoint's slow-lane deadline after an attempt: set or renewed by a
 * slow one (at most every half period, so a hanging endpoint costs a row
 * write every few minutes, not one per attempt), cleared by a prompt answer.
 */
function nextSlowUntil(
	current: number | null,
	slow: boolean,
	answered: boolean,
	now: number,
): number | null | undefined {
	if (slow) return (current ?? 0) < now + SLOW_LANE_MS / 2 ? now + SLOW_LANE_MS : undefined;
	return answered && current !== null ? null : undefined;
}

/** What the consumer knows beyond the endpoint for rendering and sending a channel's message. */
export interface ChannelSetup {
	email: SendEmail;
	/** EMAIL_FROM: the sender of the email channel's messages. */
	emailFrom: string;
	/** EMAIL_TENANTS: the tenants that may use the email channel; empty for all. */
	emailTenants: string;
	publicBaseUrl: string;
	templates: TemplateLookup;
}

/** The headers of an HTTP attempt carrying `body`, signed at `signedAtMs`. */
export async function signedHeaders(
	eventId: string,
	body: string,
	endpoint: EndpointRow,
	tenant: TenantSettings,
	signedAtMs: number,
): Promise<Record<string, string>> {
	return buildSignedHeaders({
		eventId,
		body,
		secrets: signingSecrets(endpoint.secret, endpoint.previousSecrets, signedAtMs),
		timestampSeconds: Math.floor(signedAtMs / 1000),
		tenant,
		customHeaders: JSON.parse(endpoint.headers) as Record<string, string>,
		headerStyle: endpoint.headerStyle,
	});
}

/**
 * The message of an attempt of `event` to `endpoint`, with its headers when
 * it is an HTTP request, signed at `signedAtMs`. The delivery's request view
 * (GET /v1/deliveries/{id}/request) rebuilds what an attempt sent with this
 * same function.
 */
export async function buildAttemptRequest(
	event: EventRow,
	endpoint: EndpointRow,
	tenant: TenantSettings,
	signedAtMs: number,
	render: Omit<RenderInput, "event" | "endpoint">,
): Promise<
	Exclude<RenderedMessage, { kind: "http" }> | { kind: "http"; body: string; headers: Record<string, string> }
> {
	const message = await renderMessage({ ...render, event, endpoint });
	if (message.kind !== "http") return message;
	return { ...message, headers: await signedHeaders(event.id, message.body, endpoint, tenant, signedAtMs) };
}

export async function attemptDelivery(
	defaults: DeploymentDefaults,
	planned: PlannedAttempt,
	endpoint: EndpointRow,
	tenant: TenantSettings,
	channels: ChannelSetup,
): Promise<Outcome> {
	const policy = effectiveDeliveryPolicy(defaults, tenant, {
		retrySchedule: endpoint.retrySchedule === null ? null : (JSON.parse(endpoint.retrySchedule) as number[]),
		timeoutMs: endpoint.timeoutMs,
	});
	if (endpoint.channel !== "email") {
		// Checked again at every send: the URL may have been stored under rules that have since become stricter.
		const urlProblem = endpointUrlProblem(endpoint.channel, endpoint.url, defaults.environment);
		if (urlProblem !== null) return refuseTarget(planned, `the endpoint URL is refused: url ${urlProblem}`);
	}
	const message = await renderMessage({
		event: planned.event,
		endpoint,
		templates: channels.templates,
		deliveryId: publicDeliveryId(planned.endpointId, planned.event.id),
		publicBaseUrl: channels.publicBaseUrl,
	});
	if (message.kind === "dropped") return skipWithoutSending(planned, message.source);
	if (message.kind === "error") return refuseTarget(planned, `${message.source} failed: ${message.message}`);
	if (message.kind === "email") return attemptEmail(planned, endpoint, message.content, channels, policy);

	const headers = await signedHeaders(planned.event.id, message.body, endpoint, tenant, Date.now());
	const result: AttemptResult = await sendAttempt({
		url: endpoint.url,
		headers,
		body: message.body,
		timeoutMs: policy.timeoutMs,
	});
	count("attempts_made");
	const record: AttemptRecord = {
		id: newAttemptId(),
		attempt: planned.attempt,
		trigger: planned.trigger,
		started_at: new Date(result.startedAtMs).toISOString(),
		duration_ms: result.durationMs,
		status_code: result.statusCode,
		response_body: result.responseBody,
		error:
			result.error ??
			(result.statusCode !== null && (result.statusCode < 200 || result.statusCode >= 300)
				? `HTTP ${result.statusCode}`
				: null),
	};
	const slow = result.durationMs >= SLOW_ATTEMPT_MS || (result.error?.startsWith("timeout") ?? false);
	const now = Date.now();
	const settled: Omit<Outcome, "status"> = {
		planned,
		record,
		error: record.error,
		nextAttemptAtMs: null,
		keepSchedule: false,
		disableEndpoint: null,
		slowUntil: nextSlowUntil(endpoint.slowUntil, slow, result.statusCode !== null, now),
		health: "failure",
		pauseUntil: null,
	};
	if (result.statusCode === null) return scheduleOrFail(settled, policy.retrySchedule, null);

	const verdict = classifyResponse(result.statusCode, result.retryAfter, Date.now());
	if (verdict.kind === "retry" && result.statusCode === 429 && verdict.retryAfterSeconds !== null) {
		settled.pauseUntil = now + verdict.retryAfterSeconds * 1000;
	}
	if (verdict.kind === "success") {
		count("attempts_succeeded");
		return { ...settled, status: "success", error: null, health: "success" };
	}
	if (verdict.kind === "gone") {
		return { ...settled, status: "failed", disableEndpoint: `the endpoint answered 410 Gone at ${record.started_at}` };
	}
	return scheduleOrFail(settled, policy.retrySchedule, verdict.retryAfterSeconds);
}

/**
 * One message per address through the send_email binding. Every address
 * refused: retried on the schedule. Some refused: failed without a retry, so
 * the addresses that got it do not get it twice; a manual retry sends to all.
 */
async function attemptEmail(
	planned: PlannedAttempt,
	endpoint: EndpointRow,
	content: EmailContent,
	channels: ChannelSetup,
	policy: { retrySchedule: readonly number[]; timeoutMs: number },
): Promise<Outcome> {
	// Refused like a missing sender: retrying would not change it, and the recipients are not to blame.
	if (!emailAllowedFor(channels.emailTenants, planned.tenantId)) return refuseTarget(planned, EMAIL_NOT_ALLOWED);
	const recipients = recipientsOf(endpoint) ?? [];
	const attemptId = newAttemptId();
	const sent = await sendEmail({
		binding: channels.email,
		sender: channels.emailFrom,
		to: recipients,
		content,
		// The attempt id alone: unique, and unlike the stored delivery id it says nothing about other tenants.
		messageKey: attemptId,
		timeoutMs: policy.timeoutMs,
	});
	// Nothing reached the platform, and retrying would not change that: not the recipients' health either.
	if (sent.problem !== null) return refuseTarget(planned, sent.problem);
	count("attempts_made");
	const refusals = sent.refused.map(({ address, reason }) => `${address}: ${reason}`).join("; ");
	const record: AttemptRecord = {
		id: attemptId,
		attempt: planned.attempt,
		trigger: planned.trigger,
		started_at: new Date(sent.startedAtMs).toISOString(),
		duration_ms: sent.durationMs,
		status_code: null,
		response_body: sent.delivered.length > 0 ? `sent to ${sent.delivered.join(", ")}` : null,
		error:
			sent.refused.length === 0
				? null
				: sent.delivered.length > 0
					? `partly sent; refused: ${refusals}`
					: `email refused: ${refusals}`,
	};
	const settled: Omit<Outcome, "status"> = {
		planned,
		record,
		error: record.error,
		nextAttemptAtMs: null,
		keepSchedule: false,
		disableEndpoint: null,
		health: sent.refused.length === 0 ? "success" : "failure",
		pauseUntil: null,
	};
	if (sent.refused.length === 0) {
		count("attempts_succeeded");
		return { ...settled, status: "success" };
	}
	if (sent.delivered.length > 0) return { ...settled, status: "failed" };
	return scheduleOrFail(settled, policy.retrySchedule, null);
}

function scheduleOrFail(
	settled: Omit<Outcome, "status">,
	schedule: readonly number[],
	retryAfterSeconds: number | null,
): Outcome {
	const { planned } = settled;
	// A manual resend is one attempt on request, not a new run of the schedule.
	if (planned.trigger === "manual") {
		return planned.previousStatus === "pending"
			? { ...settled, status: "pending", keepSchedule: true }
			: { ...settled, status: "failed" };
	}
	const delayMs =
		planned.attempt >= maxAttempts(schedule) ? null : nextRetryDelayMs(schedule, planned.attempt, retryAfterSeconds);
	if (delayMs === null) return { ...settled, status: "failed" };
	return { ...settled, status: "pending", nextAttemptAtMs: Date.now() + delayMs };
}

/** An outcome with nothing sent to the receiver, so nothing said about its health or pace. */
function unsent(
	planned: PlannedAttempt,
	fields: Pick<Outcome, "status" | "record" | "error" | "nextAttemptAtMs">,
): Outcome {
	return { planned, ...fields, keepSchedule: false, disableEndpoint: null, health: null, pauseUntil: null };
}

/** An attempt that sent nothing because the target may not be reached; retrying would not change that. */
function refuseTarget(planned: PlannedAttempt, reason: string): Outcome {
	const record: AttemptRecord = {
		id: newAttemptId(),
		attempt: planned.attempt,
		trigger: planned.trigger,
		started_at: new Date().toISOString(),
		duration_ms: 0,
		status_code: null,
		response_body: null,
		error: reason,
	};
	return unsent(planned, { status: "failed", record, error: reason, nextAttemptAtMs: null });
}

/** A delivery the endpoint's scheduler holds back: pending, not an attempt, due when the scheduler says. */
export function holdWithoutSending(planned: PlannedAttempt, heldUntil: number): Outcome {
	return unsent(planned, { status: "pending", record: null, error: null, nextAttemptAtMs: heldUntil });
}

/** A delivery the endpoint's transformation dropped: nothing sent, nothing to retry. */
function skipWithoutSending(planned: PlannedAttempt, source: string): Outcome {
	return unsent(planned, {
		status: "skipped",
		record: null,
		error: `${source} produced nothing, so nothing was sent`,
		nextAttemptAtMs: null,
	});
}

export function settleWithoutSending(planned: PlannedAttempt, reason: string): Outcome {
	return unsent(planned, { status: "failed", record: null, error: reason, nextAttemptAtMs: null });
}
