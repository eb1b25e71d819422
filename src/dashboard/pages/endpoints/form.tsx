import type { Hono } from "hono";
import { emailChannelProblem } from "../../../channels/email-send";
import { CHANNELS, type Channel, MAX_EMAIL_RECIPIENTS } from "../../../channels/targets";
import { MAX_TRANSFORMATION_LENGTH } from "../../../channels/transform";
import { DEFAULT_MAX_CONCURRENCY, MAX_MAX_CONCURRENCY } from "../../../delivery/settings";
import { MAX_RATE_LIMIT_PER_SECOND } from "../../../routes/webhooks/schemas";
import type { ApiFailure } from "../../api";
import { ActionForm, Copyable, Field, type FieldErrors, Notice } from "../../components";
import {
	all,
	type DashboardContext,
	type DashboardEnv,
	formOf,
	notFoundPage,
	render,
	single,
	TENANT_ROUTE,
} from "../../context";
import { endpointPath, tenantPath } from "../../paths";
import {
	CHANNEL_LABELS,
	type Endpoint,
	HEADER_STYLE_LABELS,
	HEADER_STYLES,
	loadOfferedEventTypes,
	type OfferedEventType,
	targetText,
	webhookPath,
} from "./shared";

/** The wildcard subscription, as the API spells it (src/delivery/event-filter.ts). */
const ALL_EVENTS = "*";

/** The form's values as typed, so a refused save shows them again unchanged. */
export interface EndpointFormValues {
	channel: string;
	url: string;
	/** The email channel's addresses as typed, one or more a line. */
	to: string;
	transformation: string;
	events: string[];
	events_other: string;
	description: string;
	headers: string;
	retry_schedule: string;
	timeout_ms: string;
	rate_limit_per_second: string;
	max_concurrency: string;
	ordering: string;
	/** Undefined when the post did not carry the field: see bodyOfForm. */
	uid: string | undefined;
	/** Routing labels as typed, separated by commas or line breaks; undefined when the post did not carry the field. */
	labels: string | undefined;
	/** "" when the post did not carry the field: see bodyOfForm. */
	header_style: string;
}

const EMPTY_FORM: EndpointFormValues = {
	channel: "webhook",
	url: "",
	to: "",
	transformation: "",
	events: [],
	events_other: "",
	description: "",
	headers: "",
	retry_schedule: "",
	timeout_ms: "",
	rate_limit_per_second: "",
	max_concurrency: "",
	ordering: "unordered",
	uid: "",
	labels: "",
	header_style: "webhook",
};

function valuesOfEndpoint(endpoint: Endpoint, offered: readonly OfferedEventType[]): EndpointFormValues {
	const known = new Set([ALL_EVENTS, ...offered.map((type) => type.name)]);
	return {
		channel: endpoint.channel,
		url: endpoint.url ?? "",
		to: (endpoint.to ?? []).join("\n"),
		transformation: endpoint.transformation ?? "",
		events: endpoint.events.filter((event) => known.has(event)),
		// Prefix wildcards and types the form does not offer stay subscribed through the free field.
		events_other: endpoint.events.filter((event) => !known.has(event)).join(", "),
		description: endpoint.description,
		headers: Object.entries(endpoint.headers)
			.map(([name, value]) => `${name}: ${value}`)
			.join("\n"),
		retry_schedule:
			endpoint.retry_schedule === null
				? ""
				: endpoint.retry_schedule.length === 0
					? "none"
					: endpoint.retry_schedule.join(", "),
		timeout_ms: endpoint.timeout_ms === null ? "" : String(endpoint.timeout_ms),
		rate_limit_per_second: endpoint.rate_limit_per_second === null ? "" : String(endpoint.rate_limit_per_second),
		max_concurrency: endpoint.max_concurrency === null ? "" : String(endpoint.max_concurrency),
		ordering: endpoint.ordering,
		uid: endpoint.uid ?? "",
		labels: (endpoint.labels ?? []).join(", "),
		header_style: endpoint.header_style,
	};
}

function valuesOfForm(fields: Record<string, string | string[]>): EndpointFormValues {
	return {
		channel: single(fields, "channel") || "webhook",
		url: single(fields, "url").trim(),
		to: single(fields, "to"),
		transformation: single(fields, "transformation"),
		events: all(fields, "events"),
		events_other: single(fields, "events_other"),
		description: single(fields, "description"),
		headers: single(fields, "headers"),
		retry_schedule: single(fields, "retry_schedule"),
		timeout_ms: single(fields, "timeout_ms").trim(),
		rate_limit_per_second: single(fields, "rate_limit_per_second").trim(),
		max_concurrency: single(fields, "max_concurrency").trim(),
		ordering: single(fields, "ordering") || "unordered",
		uid: fields.uid === undefined ? undefined : single(fields, "uid").trim(),
		labels: fields.labels === undefined ? undefined : single(fields, "labels"),
		header_style: single(fields, "header_style"),
	};
}

/** The API body of a create or update; what the form cannot read becomes an error of its own field. */
export interface EndpointBody {
	/** As chosen; an unknown value goes to the API, whose message names the channels. */
	channel: string;
	/** Every channel's target but email's. */
	url?: string;
	/** The email channel's addresses. */
	to?: string[];
	/** null clears it: the event as it is, the tenant's template or the channel's layout. */
	transformation: string | null;
	events: string[];
	description: string;
	headers: Record<string, string>;
	retry_schedule: number[] | null;
	timeout_ms: number | null;
	rate_limit_per_second: number | null;
	max_concurrency: number | null;
	ordering: string;
	/** null: none (an edit removes it); left out when the post lacked the field. */
	uid?: string | null;
	/** null: every event of its types, labelled or not; left out when the post lacked the field. */
	labels?: string[] | null;
	/** Left out when the post lacked the field; any other value goes to the API, which names the styles. */
	header_style?: string;
}

function optionalNumber(value: string, name: string, errors: FieldErrors): number | null {
	if (value === "") return null;
	const number = Number(value);
	if (!Number.isFinite(number)) {
		errors[name] = "must be a number";
		return null;
	}
	return number;
}

/** `Name: value` lines to the headers object; a line without a colon is refused with its number. */
export function parseHeaders(text: string, errors: FieldErrors): Record<string, string> {
	const headers: Record<string, string> = {};
	const problems: string[] = [];
	text.split(/\r?\n/).forEach((line, index) => {
		if (line.trim() === "") return;
		const colon = line.indexOf(":");
		if (colon <= 0) {
			problems.push(`line ${index + 1} is not "Name: value"`);
			return;
		}
		headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
	});
	if (problems.length > 0) errors.headers = problems.join("; ");
	return headers;
}

export function parseSchedule(text: string, errors: FieldErrors): number[] | null {
	if (text.trim() === "") return null;
	if (text.trim().toLowerCase() === "none") return [];
	const delays = text.split(",").map((item) => item.trim());
	if (delays.some((item) => !/^\d+$/.test(item))) {
		errors.retry_schedule = "must be whole numbers of seconds separated by commas, such as 60, 300, 1800";
		return null;
	}
	return delays.map(Number);
}

/**
 * Labels separated by commas or line breaks, as the hint says; anything else
 * inside one (a space) stays in it, so the API's message names that label.
 */
export function parseLabels(text: string): string[] | null {
	const labels = text
		.split(/[,\r\n]+/)
		.map((item) => item.trim())
		.filter((item) => item !== "");
	return labels.length === 0 ? null : labels;
}

/** Addresses separated by commas, semicolons, spaces or line breaks; the API checks each. */
export function parseRecipients(text: string): string[] {
	return text
		.split(/[\s,;]+/)
		.map((item) => item.trim())
		.filter((item) => item !== "");
}

export function bodyOfForm(values: EndpointFormValues): { body: EndpointBody; errors: FieldErrors } {
	const errors: FieldErrors = {};
	const others = values.events_other
		.split(/[\s,]+/)
		.map((item) => item.trim())
		.filter((item) => item !== "");
	// Only the chosen channel's target is sent, so a form that showed every field
	// (no script) can be saved without emptying the ones the channel does not use.
	const email = values.channel === "email";
	const body: EndpointBody = {
		channel: values.channel,
		...(email ? { to: parseRecipients(values.to) } : { url: values.url }),
		transformation: values.transformation.trim() === "" ? null : values.transformation,
		events: [...new Set([...values.events, ...others])],
		description: values.description,
		headers: parseHeaders(values.headers, errors),
		retry_schedule: parseSchedule(values.retry_schedule, errors),
		timeout_ms: optionalNumber(values.timeout_ms, "timeout_ms", errors),
		rate_limit_per_second: optionalNumber(values.rate_limit_per_second, "rate_limit_per_second", errors),
		max_concurrency: optionalNumber(values.max_concurrency, "max_concurrency", errors),
		ordering: values.ordering,
		// A page rendered before a field existed posts none: clearing the uid would break callers that name the
		// endpoint by it, clearing its labels would widen its routing, and resetting the style would break the
		// receiver's verification. So a field the post lacks is left as it is.
		...(values.uid === undefined ? {} : { uid: values.uid === "" ? null : values.uid }),
		...(values.labels === undefined ? {} : { labels: parseLabels(values.labels) }),
		...(values.header_style === "" ? {} : { header_style: values.header_style }),
	};
	return { body, errors };
}

const FORM_FIELDS = new Set([
	"channel",
	"url",
	"to",
	"transformation",
	"events",
	"description",
	"headers",
	"retry_schedule",
	"timeout_ms",
	"rate_limit_per_second",
	"max_concurrency",
	"ordering",
	"uid",
	"labels",
	"header_style",
]);

/**
 * The API's field paths (`headers.X-Foo`, `events.0`, `retry_schedule.1`)
 * on the form's controls, keeping which item was wrong in the message.
 * What matches no control is returned under "" for a notice above the form.
 */
export function formErrorsOf(apiFields: Record<string, string>, body: EndpointBody): FieldErrors {
	const errors: FieldErrors = {};
	const add = (name: string, message: string) => {
		errors[name] = errors[name] ? `${errors[name]}; ${message}` : message;
	};
	for (const [path, message] of Object.entries(apiFields)) {
		const [head = "", ...rest] = path.split(".");
		const item = rest.join(".");
		if (!FORM_FIELDS.has(head)) {
			add("", `${path}: ${message}`);
		} else if (item === "") {
			add(head, message);
		} else if (head === "events" || head === "to" || head === "labels") {
			const list = head === "events" ? body.events : head === "to" ? body.to : body.labels;
			const value = (list ?? [])[Number(item)];
			add(head, value === undefined ? message : `"${value}" ${message}`);
		} else if (head === "retry_schedule") {
			add(head, `delay ${Number(item) + 1} ${message}`);
		} else {
			add(head, `"${item}" ${message}`);
		}
	}
	return errors;
}

function EventPicker(props: { offered: readonly OfferedEventType[]; values: EndpointFormValues; errors: FieldErrors }) {
	const chosen = new Set(props.values.events);
	const error = props.errors.events;
	// A form shown again after a refused save has the types it posted, and one may have left the catalog or the
	// recent types meanwhile: without its box the corrected save would drop that subscription unseen.
	const offeredNames = new Set([ALL_EVENTS, ...props.offered.map((type) => type.name)]);
	const unoffered = [...chosen].filter((name) => !offeredNames.has(name));
	return (
		<fieldset aria-describedby={error ? "events-error" : "events-hint"} aria-invalid={error ? "true" : undefined}>
			<legend>Event types</legend>
			<div class="hint" id="events-hint">
				The events this endpoint receives. Pick at least one, or all of them.
			</div>
			<div class="checks">
				<label>
					<input type="checkbox" name="events" value={ALL_EVENTS} checked={chosen.has(ALL_EVENTS)} />
					<span>
						All event types (*) <span class="hint">every event, including types added later</span>
					</span>
				</label>
				{props.offered.map((type) => (
					<label>
						<input type="checkbox" name="events" value={type.name} checked={chosen.has(type.name)} />
						<span>
							<code>{type.name}</code>
							{type.in_catalog ? null : <span class="hint"> sent recently, not in the catalog</span>}
							{type.description ? <span class="hint"> {type.description}</span> : null}
						</span>
					</label>
				))}
				{unoffered.map((name) => (
					<label>
						<input type="checkbox" name="events" value={name} checked />
						<span>
							<code>{name}</code>
							<span class="hint"> not in the catalog, nor sent recently</span>
						</span>
					</label>
				))}
			</div>
			{props.offered.length === 0 ? (
				<p class="hint">
					No event type is in the catalog or was sent recently: choose all event types, or name them below.
				</p>
			) : null}
			{error ? (
				<div class="field-error" id="events-error">
					{error}
				</div>
			) : null}
			<Field
				label="Other event filters"
				name="events_other"
				hint="Optional. Types or prefix wildcards not listed above, separated by commas, such as user.*"
				errors={props.errors}
			>
				{(described) => <input type="text" name="events_other" value={props.values.events_other} {...described} />}
			</Field>
		</fieldset>
	);
}

/** The URL field's words for each channel that has one. */
const URL_TEXTS: Record<Exclude<Channel, "email">, { label: string; hint: string }> = {
	webhook: {
		label: "URL",
		hint: "Where Edgehook sends the events, signed (HTTPS in production). Any 2xx answer is a success.",
	},
	slack: {
		label: "Slack incoming-webhook URL",
		hint: "From your Slack app's Incoming Webhooks page, https://hooks.slack.com/services/…: each event becomes a message in its channel.",
	},
	discord: {
		label: "Discord webhook URL",
		hint: "From the Discord channel's settings, Integrations, Webhooks, https://discord.com/api/webhooks/…: each event becomes a message in the channel.",
	},
};

const TO_HINT = `The addresses that get each event, separated by commas or line breaks (1 to ${MAX_EMAIL_RECIPIENTS}); each gets a message of its own.`;

const TRANSFORMATION_HINT =
	"Optional. A JSONata expression over the event ({id, type, created_at, data}); its result is what is sent instead: " +
	"the JSON body for a webhook, Slack or Discord; {subject, text, html} for email. A result of nothing skips the delivery. " +
	"Empty: the event as it is for a webhook, else your template or the channel's own layout. Try it on the endpoint's page.";

const LABELS_HINT =
	"Optional. Routing labels, separated by commas or line breaks: the endpoint then receives only the events that carry one of them. " +
	"Empty: every event of its types, with labels or without.";

const UID_HINT =
	"Optional. Your own name for this endpoint, unique in the tenant; the API takes it in place of the id in paths. Empty: none.";

const HEADER_STYLE_HINT =
	"The names of the signature headers on each request (the values are the same): Standard Webhooks, or Svix's for receivers written against Svix. Not used by email.";

function isChannel(value: string): value is Channel {
	return CHANNELS.some((channel) => channel === value);
}

/**
 * The channel and its target. Without the script every target field shows,
 * its hint naming the channels it is for; the script (assets.ts) shows only
 * the chosen channel's field, with that channel's label and hint.
 */
function ChannelFields(props: { values: EndpointFormValues; errors: FieldErrors; offered: readonly Channel[] }) {
	const { values, errors, offered } = props;
	const chosen = isChannel(values.channel) ? values.channel : "webhook";
	const urlText = URL_TEXTS[chosen === "email" ? "webhook" : chosen];
	const urlChannels = CHANNELS.filter((channel) => channel !== "email");
	const email = offered.includes("email");
	return (
		<>
			<Field
				label="Channel"
				name="channel"
				hint={`Webhook: a signed HTTP POST of each event to your URL. Slack or Discord: a message in a channel.${email ? " Email: a message to each address." : ""}`}
				errors={errors}
			>
				{(described) => (
					<select name="channel" data-channel-select {...described}>
						{offered.map((channel) => (
							<option value={channel} selected={channel === chosen}>
								{CHANNEL_LABELS[channel]}
							</option>
						))}
					</select>
				)}
			</Field>
			<div
				data-channels={urlChannels.join(" ")}
				{...Object.fromEntries(
					urlChannels.flatMap((channel) => [
						[`data-label-${channel}`, URL_TEXTS[channel].label],
						[`data-hint-${channel}`, URL_TEXTS[channel].hint],
					]),
				)}
			>
				<Field
					label={urlText.label}
					name="url"
					hint={`${urlText.hint} For the ${urlChannels.map((channel) => CHANNEL_LABELS[channel]).join(", ")} channels${email ? "; email uses To instead" : ""}.`}
					errors={errors}
				>
					{(described) => (
						<input
							type="url"
							name="url"
							value={values.url}
							data-required
							placeholder="https://example.com/webhooks"
							{...described}
						/>
					)}
				</Field>
			</div>
			{email ? (
				<div data-channels="email" data-hint-email={TO_HINT}>
					<Field label="To" name="to" hint={`${TO_HINT} For the email channel only.`} errors={errors}>
						{(described) => (
							<textarea name="to" data-required placeholder="ops@example.com" {...described}>
								{values.to}
							</textarea>
						)}
					</Field>
				</div>
			) : null}
		</>
	);
}

export function EndpointForm(props: {
	c: DashboardContext;
	action: string;
	offered: readonly OfferedEventType[];
	values: EndpointFormValues;
	errors: FieldErrors;
	cancel: string;
}) {
	const { values, errors, c } = props;
	// Email is offered where the API would take it; an endpoint that already is one keeps showing as one.
	const emailOffered = values.channel === "email" || emailChannelProblem(c.env, c.var.tenantId) === null;
	const offered = CHANNELS.filter((channel) => channel !== "email" || emailOffered);
	// A form shown again after a post from a page rendered before these fields must not offer them empty: its
	// corrected save would then clear the uid and labels and reset the style. Left out, they stay as stored.
	const withoutNewer = values.uid === undefined || values.labels === undefined || values.header_style === "";
	return (
		<>
			{errors[""] ? <Notice kind="error">{errors[""]}</Notice> : null}
			{Object.keys(errors).some((name) => name !== "") ? (
				<Notice kind="error">The endpoint was not saved. Fix the fields marked below.</Notice>
			) : null}
			{withoutNewer ? (
				<Notice>
					This page was opened before the UID, labels and signature headers fields: those it lacks are left as they are.
					Open the form again to change them.
				</Notice>
			) : null}
			<ActionForm session={c.var.session} action={props.action} class="stack">
				<ChannelFields values={values} errors={errors} offered={offered} />
				<EventPicker offered={props.offered} values={values} errors={errors} />
				{values.labels === undefined ? null : (
					<Field label="Labels" name="labels" hint={LABELS_HINT} errors={errors}>
						{(described) => (
							<textarea name="labels" rows={2} spellcheck={false} placeholder="project-7" {...described}>
								{values.labels}
							</textarea>
						)}
					</Field>
				)}
				<Field
					label="Description"
					name="description"
					hint="Optional. For people: what this endpoint is."
					errors={errors}
				>
					{(described) => <input type="text" name="description" value={values.description} {...described} />}
				</Field>
				{values.uid === undefined ? null : (
					<Field label="UID" name="uid" hint={UID_HINT} errors={errors}>
						{(described) => (
							<input
								type="text"
								name="uid"
								value={values.uid}
								spellcheck={false}
								autocomplete="off"
								placeholder="customer-42-main"
								{...described}
							/>
						)}
					</Field>
				)}
				<Field label="Transformation (JSONata)" name="transformation" hint={TRANSFORMATION_HINT} errors={errors}>
					{(described) => (
						<textarea
							name="transformation"
							spellcheck={false}
							maxlength={MAX_TRANSFORMATION_LENGTH}
							placeholder='{"text": type & ": " & data.email}'
							{...described}
						>
							{values.transformation}
						</textarea>
					)}
				</Field>
				{values.header_style === "" ? null : (
					<Field label="Signature headers" name="header_style" hint={HEADER_STYLE_HINT} errors={errors}>
						{(described) => (
							<select name="header_style" {...described}>
								{HEADER_STYLES.map((style) => (
									<option value={style} selected={style === values.header_style}>
										{HEADER_STYLE_LABELS[style]}
									</option>
								))}
							</select>
						)}
					</Field>
				)}
				<Field
					label="Custom headers"
					name="headers"
					hint="Optional. One per line, as Name: value. Sent with every request."
					errors={errors}
				>
					{(described) => (
						<textarea name="headers" placeholder="X-Api-Key: abc123" {...described}>
							{values.headers}
						</textarea>
					)}
				</Field>
				<Field
					label="Retry schedule"
					name="retry_schedule"
					hint="Optional. Seconds to wait before each retry, separated by commas, such as 60, 300, 1800, 7200; none for no retries. Empty: the tenant's default."
					errors={errors}
				>
					{(described) => (
						<input type="text" name="retry_schedule" value={values.retry_schedule} inputmode="numeric" {...described} />
					)}
				</Field>
				<Field
					label="Timeout (ms)"
					name="timeout_ms"
					hint="Optional. How long to wait for an answer, in milliseconds. Empty: the tenant's default."
					errors={errors}
				>
					{(described) => <input type="number" name="timeout_ms" value={values.timeout_ms} min={100} {...described} />}
				</Field>
				<Field
					label="Rate limit (per second)"
					name="rate_limit_per_second"
					hint={`Optional. At most this many deliveries a second (1 to ${MAX_RATE_LIMIT_PER_SECOND}); more wait, none are dropped. Empty: no limit.`}
					errors={errors}
				>
					{(described) => (
						<input
							type="number"
							name="rate_limit_per_second"
							value={values.rate_limit_per_second}
							min={1}
							max={MAX_RATE_LIMIT_PER_SECOND}
							{...described}
						/>
					)}
				</Field>
				<Field
					label="Concurrency"
					name="max_concurrency"
					hint={`Optional. At most this many deliveries in flight to it at once (1 to ${MAX_MAX_CONCURRENCY}); more wait, none are dropped. Empty: ${DEFAULT_MAX_CONCURRENCY}.`}
					errors={errors}
				>
					{(described) => (
						<input
							type="number"
							name="max_concurrency"
							value={values.max_concurrency}
							min={1}
							max={MAX_MAX_CONCURRENCY}
							{...described}
						/>
					)}
				</Field>
				<Field
					label="Ordering"
					name="ordering"
					hint="Ordered: one delivery at a time, in the order the events came in, each after the previous one settled."
					errors={errors}
				>
					{(described) => (
						<select name="ordering" {...described}>
							<option value="unordered" selected={values.ordering !== "ordered"}>
								Unordered
							</option>
							<option value="ordered" selected={values.ordering === "ordered"}>
								Ordered
							</option>
						</select>
					)}
				</Field>
				<div class="row">
					<button type="submit">Save endpoint</button>
					<a href={props.cancel}>Cancel</a>
				</div>
			</ActionForm>
		</>
	);
}

function readOnlyPage(c: DashboardContext) {
	return render(c, { title: "Read-only", section: "endpoints", children: <p>This portal link is read-only.</p> }, 403);
}

function CreatedPage(props: { c: DashboardContext; endpoint: Endpoint }) {
	const { endpoint } = props;
	const tenantId = props.c.var.tenantId;
	const links = (
		<p class="row">
			<a href={endpointPath(tenantId, endpoint.id)}>Open the endpoint page</a>
			<a href={tenantPath(tenantId, "/endpoints")}>All endpoints</a>
		</p>
	);
	const saved = (
		<Notice kind="success">
			The {CHANNEL_LABELS[endpoint.channel]} endpoint for <code>{targetText(endpoint)}</code> is saved and receives
			events from now on.
		</Notice>
	);
	// Slack, Discord and mail check no signature: the secret matters to a webhook receiver alone.
	if (endpoint.channel !== "webhook") {
		return (
			<>
				{saved}
				<p>Send it a test event from its page to see the message it gets.</p>
				{links}
			</>
		);
	}
	return (
		<>
			{saved}
			<h2>Signing secret</h2>
			<p>
				Your receiver verifies each request's signature with this secret. Copy it now: it will not be shown again in
				full; the endpoint's page shows it masked, and only someone signed in can reveal it there.
			</p>
			<Copyable id="endpoint-secret" value={endpoint.secret} label="Signing secret" />
			{links}
		</>
	);
}

/**
 * The answer to a save that did not go through: the API's refusal as a
 * notice, or the form again with each problem next to its field (422).
 */
async function refusedForm(
	c: DashboardContext,
	result: ApiFailure | null,
	form: {
		title: string;
		action: string;
		cancel: string;
		values: EndpointFormValues;
		body: EndpointBody;
		errors: FieldErrors;
	},
): Promise<Response> {
	// A save's 409 `conflict` is its uid being another endpoint's (a full tenant is `limit_reached`): shown at the field.
	const uidTaken = result !== null && result.status === 409 && result.code === "conflict" && form.body.uid != null;
	if (result && result.status !== 422 && result.status !== 400 && !uidTaken) {
		return render(
			c,
			{ title: form.title, section: "endpoints", children: <Notice kind="error">{result.message}</Notice> },
			result.status === 409 || result.status === 429 ? result.status : 500,
		);
	}
	const shown = uidTaken ? { uid: result.message } : result ? formErrorsOf(result.fields, form.body) : form.errors;
	if (result && Object.keys(shown).length === 0) shown[""] = result.message;
	const offered = await loadOfferedEventTypes(c.var.api);
	return render(
		c,
		{
			title: form.title,
			section: "endpoints",
			children: (
				<EndpointForm
					c={c}
					action={form.action}
					offered={offered}
					values={form.values}
					errors={shown}
					cancel={form.cancel}
				/>
			),
		},
		uidTaken ? 409 : 422,
	);
}

export function registerEndpointForms(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/endpoints/new`, async (c) => {
		if (c.var.session.readOnly) return readOnlyPage(c);
		const offered = await loadOfferedEventTypes(c.var.api);
		return render(c, {
			title: "Add endpoint",
			section: "endpoints",
			children: (
				<EndpointForm
					c={c}
					action={tenantPath(c.var.tenantId, "/endpoints")}
					offered={offered}
					values={EMPTY_FORM}
					errors={{}}
					cancel={tenantPath(c.var.tenantId, "/endpoints")}
				/>
			),
		});
	});

	dashboard.post(`${TENANT_ROUTE}/endpoints`, async (c) => {
		const values = valuesOfForm(await formOf(c));
		const { body, errors } = bodyOfForm(values);
		const created =
			Object.keys(errors).length > 0
				? null
				: await c.var.api.send<Endpoint>("POST", "/v1/webhooks", {
						channel: body.channel,
						...(body.url === undefined ? {} : { url: body.url }),
						...(body.to === undefined ? {} : { to: body.to }),
						...(body.transformation === null ? {} : { transformation: body.transformation }),
						events: body.events,
						...(body.description === "" ? {} : { description: body.description }),
						...(Object.keys(body.headers).length === 0 ? {} : { headers: body.headers }),
						...(body.retry_schedule === null ? {} : { retry_schedule: body.retry_schedule }),
						...(body.timeout_ms === null ? {} : { timeout_ms: body.timeout_ms }),
						...(body.rate_limit_per_second === null ? {} : { rate_limit_per_second: body.rate_limit_per_second }),
						...(body.max_concurrency === null ? {} : { max_concurrency: body.max_concurrency }),
						ordering: body.ordering,
						...(body.uid == null ? {} : { uid: body.uid }),
						...(body.labels == null ? {} : { labels: body.labels }),
						...(body.header_style === undefined ? {} : { header_style: body.header_style }),
					});
		if (created?.ok) {
			return render(
				c,
				{ title: "Endpoint created", section: "endpoints", children: <CreatedPage c={c} endpoint={created.data} /> },
				201,
			);
		}
		return refusedForm(c, created, {
			title: "Add endpoint",
			action: tenantPath(c.var.tenantId, "/endpoints"),
			cancel: tenantPath(c.var.tenantId, "/endpoints"),
			values,
			body,
			errors,
		});
	});

	dashboard.get(`${TENANT_ROUTE}/endpoints/:id/edit`, async (c) => {
		if (c.var.session.readOnly) return readOnlyPage(c);
		const id = c.req.param("id");
		const [endpoint, offered] = await Promise.all([
			c.var.api.get<Endpoint>(webhookPath(id)),
			loadOfferedEventTypes(c.var.api),
		]);
		if (!endpoint.ok) return notFoundPage(c);
		return render(c, {
			title: "Edit endpoint",
			section: "endpoints",
			children: (
				<EndpointForm
					c={c}
					action={endpointPath(c.var.tenantId, id, "/edit")}
					offered={offered}
					values={valuesOfEndpoint(endpoint.data, offered)}
					errors={{}}
					cancel={endpointPath(c.var.tenantId, id)}
				/>
			),
		});
	});

	dashboard.post(`${TENANT_ROUTE}/endpoints/:id/edit`, async (c) => {
		const id = c.req.param("id");
		const values = valuesOfForm(await formOf(c));
		const { body, errors } = bodyOfForm(values);
		// Every field is sent, so clearing one in the form clears it on the endpoint.
		const saved =
			Object.keys(errors).length > 0 ? null : await c.var.api.send<Endpoint>("PATCH", webhookPath(id), body);
		if (saved?.ok) return c.redirect(endpointPath(c.var.tenantId, id, "?notice=saved"), 303);
		if (saved && saved.status === 404) return notFoundPage(c);
		return refusedForm(c, saved, {
			title: "Edit endpoint",
			action: endpointPath(c.var.tenantId, id, "/edit"),
			cancel: endpointPath(c.var.tenantId, id),
			values,
			body,
			errors,
		});
	});
}
