import type { z } from "@hono/zod-openapi";
import type { Channel } from "../../../channels/targets";
import type { DeliveryOut } from "../../../routes/deliveries/schemas";
import type { TaskOut } from "../../../routes/tasks/schemas";
import { TEST_EVENT_TYPE } from "../../../routes/webhooks/activity";
import { type EndpointOut, HeaderStyle } from "../../../routes/webhooks/schemas";
import type { WebhookStats } from "../../../routes/webhooks/stats";
import type { ApiCaller, ApiResult } from "../../api";
import { Badge, Notice, Time } from "../../components";
import { withQuery } from "../../paths";

export type Endpoint = z.infer<typeof EndpointOut>;
export type Delivery = z.infer<typeof DeliveryOut>;
export type Task = z.infer<typeof TaskOut>;

/** GET /v1/webhooks/{id}/stats. */
export type EndpointStats = z.infer<typeof WebhookStats>;

/** One entry of GET /v1/event-types. */
export interface EventType {
	name: string;
	description: string;
	example: Record<string, unknown> | null;
	built_in: boolean;
}

interface CatalogPage {
	event_types: EventType[];
	next_cursor: string | null;
}

/** The event type a test send uses when none is chosen; the API's default too. */
export { TEST_EVENT_TYPE };

/** How many catalog pages the pickers read: 1000 types is more than a form can usefully offer. */
const CATALOG_PAGES = 4;

/** The tenant's whole event type catalog (built-in types first, as the API lists them). */
export async function loadCatalog(api: ApiCaller): Promise<EventType[]> {
	const types: EventType[] = [];
	let cursor: string | null = null;
	for (let page = 0; page < CATALOG_PAGES; page++) {
		const result: ApiResult<CatalogPage> = await api.get<CatalogPage>(
			withQuery("/v1/event-types", { limit: 250, cursor }),
		);
		if (!result.ok) break;
		types.push(...result.data.event_types);
		cursor = result.data.next_cursor;
		if (cursor === null) break;
	}
	return types;
}

/** An event type the forms offer: the catalog's, or one only the tenant's recent events used. */
export interface OfferedEventType extends EventType {
	in_catalog: boolean;
}

/**
 * The catalog, then the types of the tenant's recent events that it lacks
 * (GET /v1/recent-event-types, the most recently used first): senders often
 * send types nobody added to the catalog, and a form offering only the
 * catalog hides them. webhook.test is left out: a test send reaches its
 * endpoint whatever the endpoint subscribes to.
 */
export async function loadOfferedEventTypes(api: ApiCaller): Promise<OfferedEventType[]> {
	const [catalog, recent] = await Promise.all([
		loadCatalog(api),
		api.get<{ event_types: { name: string }[] }>("/v1/recent-event-types"),
	]);
	const catalogued = new Set([TEST_EVENT_TYPE, ...catalog.map((type) => type.name)]);
	const usedOnly = recent.ok ? recent.data.event_types.filter((type) => !catalogued.has(type.name)) : [];
	return [
		...catalog.map((type) => ({ ...type, in_catalog: true })),
		...usedOnly.map((type) => ({
			name: type.name,
			description: "",
			example: null,
			built_in: false,
			in_catalog: false,
		})),
	];
}

export function webhookPath(id: string, rest = ""): string {
	return `/v1/webhooks/${encodeURIComponent(id)}${rest}`;
}

/**
 * Fixed texts for the notices an action's redirect names with `?notice=`;
 * the query only picks one, so no text from the address bar reaches the page.
 */
export const NOTICES: Record<string, { kind: "success" | "info"; text: string }> = {
	saved: { kind: "success", text: "Endpoint saved." },
	enabled: { kind: "success", text: "Endpoint enabled. Its past failures are cleared and deliveries go out again." },
	disabled: { kind: "info", text: "Endpoint disabled. Nothing is sent to it until you enable it again." },
	test_sent: { kind: "success", text: "Test event sent. It shows in the delivery log within a few seconds." },
	deleted: { kind: "success", text: "Endpoint deleted. Its pending retries are cancelled." },
};

export function NoticeFromQuery(props: { code: string | undefined }) {
	const notice = props.code ? NOTICES[props.code] : undefined;
	if (!notice) return null;
	return <Notice kind={notice.kind}>{notice.text}</Notice>;
}

export const CHANNEL_LABELS: Record<Channel, string> = {
	webhook: "Webhook",
	slack: "Slack",
	discord: "Discord",
	email: "Email",
};

export type HeaderStyleName = z.infer<typeof HeaderStyle>;

/** The styles the API takes, in its order (the default first). */
export const HEADER_STYLES: readonly HeaderStyleName[] = HeaderStyle.options;

export const HEADER_STYLE_LABELS: Record<HeaderStyleName, string> = {
	webhook: "webhook-id, webhook-timestamp, webhook-signature (Standard Webhooks)",
	svix: "svix-id, svix-timestamp, svix-signature (Svix)",
};

export function ChannelBadge(props: { channel: Channel }) {
	return <Badge value={`channel-${props.channel}`} label={CHANNEL_LABELS[props.channel]} />;
}

/** Where the endpoint sends, in one line: its URL, or an email endpoint's addresses. */
export function targetText(endpoint: Pick<Endpoint, "channel" | "url" | "to">): string {
	return endpoint.channel === "email" ? (endpoint.to ?? []).join(", ") : (endpoint.url ?? "");
}

/** The channel's badge and where it sends; `href` makes the target a link. */
export function EndpointTarget(props: { endpoint: Endpoint; href?: string }) {
	const text = targetText(props.endpoint);
	return (
		<span class="target">
			<ChannelBadge channel={props.endpoint.channel} />
			{props.href ? (
				<a href={props.href} class="mono">
					{text}
				</a>
			) : (
				<code>{text}</code>
			)}
		</span>
	);
}

/** The endpoint's state in words: enabled or not and why, and its circuit when it is not closed. */
export function EndpointState(props: { endpoint: Endpoint }) {
	const { endpoint } = props;
	if (!endpoint.active) {
		return (
			<span>
				<Badge value="disabled" />
				{endpoint.disabled_reason ? <span class="muted"> {endpoint.disabled_reason}</span> : null}
			</span>
		);
	}
	const circuit = endpoint.circuit;
	if (circuit && circuit.state === "open") {
		return (
			<span>
				<Badge value="open" label="circuit open" />
				<span class="muted">
					{" "}
					since <Time value={circuit.since} />
				</span>
			</span>
		);
	}
	if (circuit && circuit.state === "half_open") return <Badge value="half_open" label="circuit half-open" />;
	if (endpoint.failing_since) {
		return (
			<span>
				<Badge value="pending" label="failing" />
				<span class="muted">
					{" "}
					since <Time value={endpoint.failing_since} />
				</span>
			</span>
		);
	}
	return <Badge value="active" />;
}

export function percent(rate: number | null): string {
	if (rate === null) return "–";
	const value = rate * 100;
	return `${value === 100 || value === 0 ? value.toFixed(0) : value.toFixed(1)} %`;
}

/** `whsec_…a1b2`: enough to tell secrets apart, too little to use one. */
export function maskedSecret(maskedByApi: string): string {
	return `whsec_…${maskedByApi.slice(-4)}`;
}

const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

/**
 * A `datetime-local` value read as UTC, as the forms say, in the API's
 * format; anything else goes to the API as typed so its message explains.
 */
export function utcFromLocalInput(value: string): string {
	const trimmed = value.trim();
	if (!LOCAL_DATE_TIME.test(trimmed)) return trimmed;
	return `${trimmed.length === 16 ? `${trimmed}:00` : trimmed}Z`;
}

/** An ISO time as a `datetime-local` value in UTC (minutes). */
export function localInputFromTime(ms: number): string {
	return new Date(ms).toISOString().slice(0, 16);
}

export const DELIVERY_ID = /^del_[A-Za-z0-9_.:-]+$/;
