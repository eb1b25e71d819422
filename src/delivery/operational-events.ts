/**
 * Operational events: what Edgehook says about a tenant's own endpoints, in
 * the tenant's event log and delivered like any event to the endpoints
 * subscribed to them. Their names are reserved: a sender cannot post them.
 */
export const OPERATIONAL_EVENT_TYPES = {
	"endpoint.failing": "An endpoint's circuit opened after a run of failed attempts; its deliveries wait for it.",
	"endpoint.recovered": "An endpoint whose circuit was open answered a probe; its waiting deliveries go out again.",
	"endpoint.disabled": "An endpoint was disabled: it answered 410 Gone, or failed without a success for too long.",
	"delivery.exhausted": "A delivery's last scheduled attempt failed; it is failed and can be retried or recovered.",
} as const;

export type OperationalEventType = keyof typeof OPERATIONAL_EVENT_TYPES;

export function isOperationalEventType(type: string): type is OperationalEventType {
	return Object.hasOwn(OPERATIONAL_EVENT_TYPES, type);
}

/** An operational event ready to ingest: its type and its `data`. */
export interface OperationalEvent {
	tenantId: string;
	type: OperationalEventType;
	data: Record<string, unknown>;
}

function iso(ms: number | null): string | null {
	return ms === null ? null : new Date(ms).toISOString();
}

/** The endpoint and the figures behind a decision about it: every operational event about an endpoint carries these. */
export interface EndpointHealthFacts {
	endpointId: string;
	/** Where the endpoint sends, masked: maskedEndpointAddress (src/channels/targets.ts). */
	url: string;
	failuresInRow: number;
	failingSince: number | null;
	lastStatusCode: number | null;
	lastError: string | null;
}

function endpointFacts(facts: EndpointHealthFacts): Record<string, unknown> {
	return {
		endpoint_id: facts.endpointId,
		url: facts.url,
		failures_in_a_row: facts.failuresInRow,
		failing_since: iso(facts.failingSince),
		last_status_code: facts.lastStatusCode,
		last_error: facts.lastError,
	};
}

export function endpointFailing(
	tenantId: string,
	facts: EndpointHealthFacts,
	circuit: { nextProbeAt: number | null; threshold: number },
): OperationalEvent {
	return {
		tenantId,
		type: "endpoint.failing",
		data: {
			...endpointFacts(facts),
			circuit: "open",
			failure_threshold: circuit.threshold,
			next_probe_at: iso(circuit.nextProbeAt),
		},
	};
}

export function endpointRecovered(
	tenantId: string,
	facts: EndpointHealthFacts,
	openSince: number,
	now: number,
): OperationalEvent {
	return {
		tenantId,
		type: "endpoint.recovered",
		data: {
			...endpointFacts(facts),
			circuit: "closed",
			open_since: iso(openSince),
			open_for_seconds: Math.round((now - openSince) / 1000),
		},
	};
}

export function endpointDisabled(tenantId: string, facts: EndpointHealthFacts, reason: string): OperationalEvent {
	return { tenantId, type: "endpoint.disabled", data: { ...endpointFacts(facts), reason } };
}

export function deliveryExhausted(
	tenantId: string,
	delivery: {
		deliveryId: string;
		eventId: string;
		eventType: string;
		endpointId: string;
		/** Masked, as in EndpointHealthFacts. */
		url: string;
		attempts: number;
		lastStatusCode: number | null;
		lastError: string | null;
	},
): OperationalEvent {
	return {
		tenantId,
		type: "delivery.exhausted",
		data: {
			delivery_id: delivery.deliveryId,
			event_id: delivery.eventId,
			event_type: delivery.eventType,
			endpoint_id: delivery.endpointId,
			url: delivery.url,
			attempts: delivery.attempts,
			last_status_code: delivery.lastStatusCode,
			last_error: delivery.lastError,
		},
	};
}
