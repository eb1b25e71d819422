import type { Hono } from "hono";
import type { Child } from "hono/jsx";
import { DEFAULT_GRACE_PERIOD_SECONDS, MAX_GRACE_PERIOD_SECONDS } from "../../../delivery/secrets";
import { DEFAULT_MAX_CONCURRENCY } from "../../../delivery/settings";
import { MAX_RECOVER_WINDOW_MS } from "../../../routes/tasks/schemas";
import { defaultTestPayload } from "../../../routes/webhooks/activity";
import { MAX_STATS_ROWS } from "../../../routes/webhooks/stats";
import { type ChartWindow, StatsCharts } from "../../chart";
import { ActionForm, CodeList, Copyable, Field, type FieldErrors, Notice, pretty, Time } from "../../components";
import {
	apiFailurePage,
	type DashboardContext,
	type DashboardEnv,
	formOf,
	notFoundPage,
	render,
	single,
	TENANT_ROUTE,
} from "../../context";
import { endpointPath, tenantPath, withQuery } from "../../paths";
import {
	CHANNEL_LABELS,
	ChannelBadge,
	DELIVERY_ID,
	type Endpoint,
	EndpointState,
	type EndpointStats,
	HEADER_STYLE_LABELS,
	loadOfferedEventTypes,
	localInputFromTime,
	maskedSecret,
	NoticeFromQuery,
	type OfferedEventType,
	percent,
	type Task,
	TEST_EVENT_TYPE,
	targetText,
	utcFromLocalInput,
	webhookPath,
} from "./shared";
import { runTrial, TransformationSection, type TrialState, trialValuesOf } from "./transformation";

const DEFAULT_GRACE_HOURS = String(DEFAULT_GRACE_PERIOD_SECONDS / 3600);
const DAY_MS = 24 * 60 * 60 * 1000;

/** What an action that failed hands back to the page: its values and its problems, by control. */
interface ActionState {
	values: { grace_hours?: string; since?: string; until?: string; event_type?: string };
	errors: FieldErrors;
	/** A problem of the whole action (a 409), shown in its section. */
	message?: { section: "test" | "rotate" | "recover" | "active" | "delete"; text: string };
	/** The try form's values and what the API made of them. */
	trial?: TrialState;
}

interface DetailData {
	endpoint: Endpoint;
	stats: EndpointStats | null;
	chart: EndpointStats | null;
	window: ChartWindow;
	eventTypes: OfferedEventType[];
}

function windowOf(value: string | undefined): ChartWindow {
	return value === "7d" ? "7d" : "24h";
}

async function loadDetail(c: DashboardContext, id: string, window: ChartWindow): Promise<DetailData | null> {
	const api = c.var.api;
	const [endpoint, stats, chart, eventTypes] = await Promise.all([
		api.get<Endpoint>(webhookPath(id)),
		api.get<EndpointStats>(webhookPath(id, "/stats?window=24h")),
		window === "24h" ? Promise.resolve(null) : api.get<EndpointStats>(webhookPath(id, `/stats?window=${window}`)),
		loadOfferedEventTypes(api),
	]);
	if (!endpoint.ok) return null;
	const day = stats.ok ? stats.data : null;
	return {
		endpoint: endpoint.data,
		stats: day,
		chart: chart === null ? day : chart.ok ? chart.data : null,
		window,
		eventTypes,
	};
}

/**
 * What a test send of `type` carries: the catalog's example, for webhook.test
 * what the API builds, and {} for a type with no example or not in the catalog.
 */
function examplePayload(type: string, endpointId: string, eventTypes: readonly OfferedEventType[]): unknown {
	if (type === TEST_EVENT_TYPE) return defaultTestPayload(endpointId);
	return eventTypes.find((entry) => entry.name === type)?.example ?? {};
}

function Details(props: { endpoint: Endpoint; tenantId: string; readOnly: boolean }) {
	const { endpoint } = props;
	const circuit = endpoint.circuit;
	const headerNames = Object.keys(endpoint.headers);
	return (
		<dl class="details">
			<dt>ID</dt>
			<dd>
				<code>{endpoint.id}</code>
			</dd>
			<dt>UID</dt>
			<dd>{endpoint.uid === null ? <span class="muted">none</span> : <code>{endpoint.uid}</code>}</dd>
			<dt>Channel</dt>
			<dd>
				<ChannelBadge channel={endpoint.channel} />
			</dd>
			<dt>
				{endpoint.channel === "email"
					? "To"
					: endpoint.channel === "webhook"
						? "URL"
						: `${CHANNEL_LABELS[endpoint.channel]} URL`}
			</dt>
			<dd>
				<code>{targetText(endpoint)}</code>
			</dd>
			<dt>Description</dt>
			<dd>{endpoint.description || <span class="muted">none</span>}</dd>
			<dt>Event types</dt>
			<dd>
				{endpoint.events.map((event, index) => (
					<>
						{index > 0 ? ", " : ""}
						<code>{event}</code>
						{event === "*" ? <span class="muted"> (all event types)</span> : null}
					</>
				))}
			</dd>
			<dt>Labels</dt>
			<dd>
				<CodeList items={endpoint.labels} empty="all events of its types, with labels or without" />
				{(endpoint.labels ?? []).length === 0 ? null : <span class="muted"> (only events carrying one of them)</span>}
			</dd>
			<dt>State</dt>
			<dd>
				<EndpointState endpoint={endpoint} />
			</dd>
			<dt>Circuit breaker</dt>
			<dd>
				{circuit ? (
					<>
						{circuit.state.replace("_", "-")} since <Time value={circuit.since} />
						{circuit.failures_in_a_row > 0 ? `, ${circuit.failures_in_a_row} failed attempts in a row` : ""}
						{circuit.next_probe_at ? (
							<>
								, next probe <Time value={circuit.next_probe_at} />
							</>
						) : null}
						{circuit.last_error ? (
							<span class="muted">
								{" "}
								(last error: {circuit.last_error}
								{circuit.last_status_code === null ? "" : `, HTTP ${circuit.last_status_code}`})
							</span>
						) : null}
					</>
				) : (
					<span class="muted">unknown</span>
				)}
			</dd>
			{/* An email carries no signature or request headers: the secret and headers would mean nothing there. */}
			{endpoint.channel === "email" ? null : (
				<>
					<dt>Signing secret</dt>
					<dd class="row">
						<code>{maskedSecret(endpoint.secret)}</code>
						{props.readOnly ? null : <a href={endpointPath(props.tenantId, endpoint.id, "/secret")}>Reveal</a>}
					</dd>
					<dt>Signature headers</dt>
					<dd>{HEADER_STYLE_LABELS[endpoint.header_style]}</dd>
				</>
			)}
			<dt>Rate limit</dt>
			<dd>
				{endpoint.rate_limit_per_second === null ? (
					<span class="muted">none</span>
				) : (
					`${endpoint.rate_limit_per_second} per second`
				)}
			</dd>
			<dt>Concurrency</dt>
			<dd>
				{endpoint.max_concurrency === null ? (
					<span class="muted">{DEFAULT_MAX_CONCURRENCY} in flight (the default)</span>
				) : (
					`${endpoint.max_concurrency} in flight`
				)}
			</dd>
			<dt>Ordering</dt>
			<dd>{endpoint.ordering}</dd>
			<dt>Retry schedule</dt>
			<dd>
				{endpoint.retry_schedule === null ? (
					<span class="muted">the tenant's default</span>
				) : endpoint.retry_schedule.length === 0 ? (
					"no retries"
				) : (
					`${endpoint.retry_schedule.join(", ")} seconds`
				)}
			</dd>
			<dt>Timeout</dt>
			<dd>
				{endpoint.timeout_ms === null ? <span class="muted">the tenant's default</span> : `${endpoint.timeout_ms} ms`}
			</dd>
			{endpoint.channel === "email" ? null : (
				<>
					<dt>Custom headers</dt>
					<dd>
						{headerNames.length === 0 ? (
							<span class="muted">none</span>
						) : (
							headerNames.map((name, index) => (
								<>
									{index > 0 ? ", " : ""}
									<code>{name}</code>
								</>
							))
						)}
					</dd>
				</>
			)}
			<dt>Created</dt>
			<dd>
				<Time value={endpoint.created_at} />
			</dd>
		</dl>
	);
}

function StatsCards(props: { stats: EndpointStats | null }) {
	const { stats } = props;
	if (!stats) return <p class="muted">The statistics are not available right now.</p>;
	return (
		<div class="cards">
			<div class="card">
				<div class="muted">Deliveries (24 h)</div>
				<div class="value">{stats.totals.deliveries}</div>
				<div class="hint">
					{stats.totals.succeeded} succeeded, {stats.totals.failed} failed, {stats.totals.pending} pending,{" "}
					{stats.totals.skipped} skipped
				</div>
			</div>
			<div class="card">
				<div class="muted">Success rate (24 h)</div>
				<div class="value">{percent(stats.totals.success_rate)}</div>
			</div>
			<div class="card">
				<div class="muted">Last delivery</div>
				<div class="value">
					<Time value={stats.last_delivery_at} />
				</div>
			</div>
		</div>
	);
}

function WindowSwitch(props: { tenantId: string; endpointId: string; window: ChartWindow }) {
	const options: { window: ChartWindow; label: string }[] = [
		{ window: "24h", label: "Last 24 hours" },
		{ window: "7d", label: "Last 7 days" },
	];
	return (
		<nav class="pager" aria-label="Chart window">
			{options.map((option) => (
				<a
					href={withQuery(endpointPath(props.tenantId, props.endpointId), { window: option.window })}
					aria-current={option.window === props.window ? "page" : undefined}
				>
					{option.label}
				</a>
			))}
		</nav>
	);
}

function SectionMessage(props: { state: ActionState; section: NonNullable<ActionState["message"]>["section"] }) {
	const message = props.state.message;
	if (!message || message.section !== props.section) return null;
	return <Notice kind="error">{message.text}</Notice>;
}

/** Near the top of the page: sending a test is what someone setting up an endpoint does first. */
function TestEventSection(props: { c: DashboardContext; data: DetailData; state: ActionState; testType: string }) {
	const { c, data, state } = props;
	const { endpoint } = data;
	const tenantId = c.var.tenantId;
	const session = c.var.session;
	const testTypes = [{ name: TEST_EVENT_TYPE, in_catalog: true }, ...data.eventTypes.filter((type) => !type.built_in)];
	const chosen = state.values.event_type ?? props.testType;
	return (
		<section aria-labelledby="test-heading">
			<h2 id="test-heading">Send a test event</h2>
			<SectionMessage state={state} section="test" />
			{endpoint.active ? null : <p class="hint">Enable the endpoint to send it a test event.</p>}
			<ActionForm session={session} action={endpointPath(tenantId, endpoint.id, "/test")} class="stack">
				<Field
					label="Event type"
					name="event_type"
					hint="Sent to this endpoint alone, with the type's example payload, or {} when it has none."
					errors={state.errors}
				>
					{(described) => (
						<select name="event_type" {...described}>
							{testTypes.map((type) => (
								<option value={type.name} selected={type.name === chosen}>
									{type.in_catalog ? type.name : `${type.name} (sent recently, not in the catalog)`}
								</option>
							))}
						</select>
					)}
				</Field>
				<div>
					<button type="submit">Send test event</button>
				</div>
			</ActionForm>
			<h3>Example payloads</h3>
			{testTypes.map((type) => (
				<details open={type.name === chosen}>
					<summary>{type.name}</summary>
					<pre>{pretty(examplePayload(type.name, endpoint.id, data.eventTypes))}</pre>
				</details>
			))}
		</section>
	);
}

function Actions(props: { c: DashboardContext; data: DetailData; state: ActionState }) {
	const { c, data, state } = props;
	const { endpoint } = data;
	const tenantId = c.var.tenantId;
	const session = c.var.session;
	const since = state.values.since ?? localInputFromTime(Date.now() - DAY_MS);
	return (
		<div class="actions">
			{endpoint.channel === "email" ? null : (
				<section aria-labelledby="rotate-heading">
					<h3 id="rotate-heading">Rotate secret</h3>
					<SectionMessage state={state} section="rotate" />
					<ActionForm session={session} action={endpointPath(tenantId, endpoint.id, "/rotate-secret")} class="stack">
						<Field
							label="Grace period (hours)"
							name="grace_hours"
							hint="How long the old secret keeps signing too, so receivers can switch over. 0 ends it at once."
							errors={state.errors}
						>
							{(described) => (
								<input
									type="number"
									name="grace_hours"
									min={0}
									step="any"
									value={state.values.grace_hours ?? DEFAULT_GRACE_HOURS}
									{...described}
								/>
							)}
						</Field>
						<div>
							<button type="submit">Rotate secret</button>
						</div>
					</ActionForm>
				</section>
			)}
			<section aria-labelledby="recover-heading">
				<h3 id="recover-heading">Recover failed deliveries</h3>
				<SectionMessage state={state} section="recover" />
				<p class="hint">
					{`Sends every failed delivery of events created in the window once more. Times are UTC; the window is at most ${MAX_RECOVER_WINDOW_MS / DAY_MS} days.`}
				</p>
				<ActionForm session={session} action={endpointPath(tenantId, endpoint.id, "/recover")} class="stack">
					<Field label="Since (UTC)" name="since" errors={state.errors}>
						{(described) => <input type="datetime-local" name="since" value={since} required {...described} />}
					</Field>
					<Field label="Until (UTC)" name="until" hint="Optional; now when empty." errors={state.errors}>
						{(described) => (
							<input type="datetime-local" name="until" value={state.values.until ?? ""} {...described} />
						)}
					</Field>
					<div>
						<button type="submit">Recover</button>
					</div>
				</ActionForm>
			</section>
			<section aria-labelledby="state-heading">
				<h3 id="state-heading">{endpoint.active ? "Disable" : "Enable"}</h3>
				<SectionMessage state={state} section="active" />
				{endpoint.active ? (
					<ActionForm session={session} action={endpointPath(tenantId, endpoint.id, "/disable")}>
						<button type="submit" class="secondary">
							Disable
						</button>
					</ActionForm>
				) : (
					<ActionForm session={session} action={endpointPath(tenantId, endpoint.id, "/enable")}>
						<button type="submit">Enable</button>
					</ActionForm>
				)}
				<h3>Delete</h3>
				<SectionMessage state={state} section="delete" />
				<ActionForm
					session={session}
					action={endpointPath(tenantId, endpoint.id, "/delete")}
					confirm="Delete this endpoint? Its pending retries are cancelled. This cannot be undone."
				>
					<button type="submit" class="danger">
						Delete endpoint
					</button>
				</ActionForm>
			</section>
		</div>
	);
}

function DetailPage(props: {
	c: DashboardContext;
	data: DetailData;
	state: ActionState;
	notice?: string;
	testType: string;
	deliveryId?: string;
}) {
	const { c, data } = props;
	const { endpoint } = data;
	const tenantId = c.var.tenantId;
	return (
		<>
			<NoticeFromQuery code={props.notice} />
			{props.notice === "test_sent" && props.deliveryId && DELIVERY_ID.test(props.deliveryId) ? (
				<p>
					<a href={tenantPath(tenantId, `/deliveries/${encodeURIComponent(props.deliveryId)}`)}>
						Open the test delivery
					</a>
				</p>
			) : null}
			<p class="row">
				<a href={endpointPath(tenantId, endpoint.id, "/deliveries")}>Delivery log</a>
				{c.var.session.readOnly ? null : <a href={endpointPath(tenantId, endpoint.id, "/edit")}>Edit endpoint</a>}
				<a href={tenantPath(tenantId, "/endpoints")}>All endpoints</a>
			</p>
			{c.var.session.readOnly ? null : (
				<TestEventSection c={c} data={data} state={props.state} testType={props.testType} />
			)}
			<h2>Details</h2>
			<Details endpoint={endpoint} tenantId={tenantId} readOnly={c.var.session.readOnly} />
			<h2>Transformation</h2>
			<TransformationSection
				endpoint={endpoint}
				tenantId={tenantId}
				readOnly={c.var.session.readOnly}
				catalog={data.eventTypes}
				session={c.var.session}
				trial={props.state.trial}
			/>
			<h2>Last 24 hours</h2>
			<StatsCards stats={data.stats} />
			<h2>Activity</h2>
			<WindowSwitch tenantId={tenantId} endpointId={endpoint.id} window={data.window} />
			{data.chart ? (
				<>
					{data.chart.sampled ? (
						<p class="hint">
							This window holds more deliveries than one chart reads: it shows the newest{" "}
							{MAX_STATS_ROWS.toLocaleString("en")}.
						</p>
					) : null}
					<StatsCharts buckets={data.chart.buckets} window={data.window} />
				</>
			) : (
				<p class="muted">The chart is not available right now.</p>
			)}
			{c.var.session.readOnly ? null : (
				<>
					<h2>Actions</h2>
					<Actions c={c} data={data} state={props.state} />
				</>
			)}
		</>
	);
}

const NO_STATE: ActionState = { values: {}, errors: {} };

async function renderDetail(
	c: DashboardContext,
	id: string,
	state: ActionState,
	status: 200 | 409 | 422 = 200,
	query: { notice?: string; testType?: string; deliveryId?: string; window?: string } = {},
) {
	const data = await loadDetail(c, id, windowOf(query.window));
	if (!data) return notFoundPage(c);
	return render(
		c,
		{
			title: targetText(data.endpoint) || "Endpoint",
			section: "endpoints",
			children: (
				<DetailPage
					c={c}
					data={data}
					state={state}
					notice={query.notice}
					testType={query.testType ?? TEST_EVENT_TYPE}
					deliveryId={query.deliveryId}
				/>
			),
		},
		status,
	);
}

function fieldErrorsFor(fields: Record<string, string>, names: Record<string, string>): FieldErrors {
	const errors: FieldErrors = {};
	for (const [path, message] of Object.entries(fields)) {
		const control = names[path] ?? "";
		errors[control] = errors[control] ? `${errors[control]}; ${message}` : message;
	}
	return errors;
}

/** A failed action: 404 as not found, 422 and 409 on the endpoint's page next to the action, anything else as an error page. */
async function actionFailed(
	c: DashboardContext,
	id: string,
	section: NonNullable<ActionState["message"]>["section"],
	failure: { status: number; message: string; fields: Record<string, string> },
	values: ActionState["values"],
	names: Record<string, string>,
) {
	if (failure.status === 404) return notFoundPage(c);
	if (failure.status !== 422 && failure.status !== 409 && failure.status !== 400) {
		return apiFailurePage(c, { ok: false, code: "error", ...failure });
	}
	const errors = fieldErrorsFor(failure.fields, names);
	const general = errors[""];
	delete errors[""];
	const message =
		Object.keys(errors).length === 0 || general ? { section, text: general ?? failure.message } : undefined;
	return renderDetail(c, id, { values, errors, message }, failure.status === 409 ? 409 : 422);
}

function SecretShown(props: {
	c: DashboardContext;
	endpointId: string;
	secret: string;
	note: string;
	children?: Child;
}) {
	return (
		<>
			<p>{props.note}</p>
			<Copyable id="endpoint-secret" value={props.secret} label="Signing secret" />
			{props.children}
			<p>
				<a href={endpointPath(props.c.var.tenantId, props.endpointId)}>Back to the endpoint</a>
			</p>
		</>
	);
}

export function registerEndpointDetail(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/endpoints/:id`, (c) =>
		renderDetail(c, c.req.param("id"), NO_STATE, 200, {
			notice: c.req.query("notice"),
			testType: c.req.query("test_type"),
			deliveryId: c.req.query("delivery"),
			window: c.req.query("window"),
		}),
	);

	dashboard.get(`${TENANT_ROUTE}/endpoints/:id/secret`, async (c) => {
		const id = c.req.param("id");
		const secret = await c.var.api.get<{ secret: string }>(webhookPath(id, "/secret"));
		if (!secret.ok) return apiFailurePage(c, secret);
		return render(c, {
			title: "Signing secret",
			section: "endpoints",
			children: (
				<SecretShown
					c={c}
					endpointId={id}
					secret={secret.data.secret}
					note="The endpoint's current signing secret. Keep it private: anyone who has it can sign requests your receiver accepts."
				/>
			),
		});
	});

	dashboard.post(`${TENANT_ROUTE}/endpoints/:id/rotate-secret`, async (c) => {
		const id = c.req.param("id");
		const hoursText = single(await formOf(c), "grace_hours").trim();
		const hours = hoursText === "" ? Number(DEFAULT_GRACE_HOURS) : Number(hoursText);
		if (!Number.isFinite(hours) || hours < 0) {
			return renderDetail(
				c,
				id,
				{ values: { grace_hours: hoursText }, errors: { grace_hours: "must be a number of hours, 0 or more" } },
				422,
			);
		}
		const rotated = await c.var.api.send<{ secret: string; previous_secret_expires_at: string | null }>(
			"POST",
			webhookPath(id, "/rotate-secret"),
			{ grace_period_seconds: Math.round(hours * 3600) },
		);
		if (!rotated.ok) {
			const fields = Object.fromEntries(
				Object.entries(rotated.fields).map(([path, message]) => [
					path,
					// The API counts seconds; the form asks for hours.
					path === "grace_period_seconds" ? `must be 0 to ${MAX_GRACE_PERIOD_SECONDS / 3600} hours` : message,
				]),
			);
			return actionFailed(
				c,
				id,
				"rotate",
				{ ...rotated, fields },
				{ grace_hours: hoursText },
				{
					grace_period_seconds: "grace_hours",
				},
			);
		}
		const until = rotated.data.previous_secret_expires_at;
		return render(c, {
			title: "Secret rotated",
			section: "endpoints",
			children: (
				<SecretShown
					c={c}
					endpointId={id}
					secret={rotated.data.secret}
					note="The new signing secret. Copy it now: it will not be shown again in full; the endpoint's page shows it masked."
				>
					<p>
						{until ? (
							<>
								The previous secret also signs requests until <Time value={until} />, so receivers can switch over.
							</>
						) : (
							"The previous secret stopped signing at once."
						)}
					</p>
				</SecretShown>
			),
		});
	});

	for (const [action, active] of [
		["enable", true],
		["disable", false],
	] as const) {
		dashboard.post(`${TENANT_ROUTE}/endpoints/:id/${action}`, async (c) => {
			const id = c.req.param("id");
			const saved = await c.var.api.send<Endpoint>("PATCH", webhookPath(id), { active });
			if (!saved.ok) return actionFailed(c, id, "active", saved, {}, {});
			return c.redirect(endpointPath(c.var.tenantId, id, `?notice=${active ? "enabled" : "disabled"}`), 303);
		});
	}

	dashboard.post(`${TENANT_ROUTE}/endpoints/:id/test`, async (c) => {
		const id = c.req.param("id");
		const type = single(await formOf(c), "event_type") || TEST_EVENT_TYPE;
		const sent = await c.var.api.send<{ event_id: string; delivery_id: string }>("POST", webhookPath(id, "/test"), {
			event_type: type,
		});
		if (!sent.ok) return actionFailed(c, id, "test", sent, { event_type: type }, { event_type: "event_type" });
		return c.redirect(
			withQuery(endpointPath(c.var.tenantId, id), {
				notice: "test_sent",
				test_type: type,
				delivery: sent.data.delivery_id,
			}),
			303,
		);
	});

	dashboard.post(`${TENANT_ROUTE}/endpoints/:id/transformation/test`, async (c) => {
		const id = c.req.param("id");
		const trial = await runTrial(c.var.api, id, trialValuesOf(await formOf(c)));
		return renderDetail(c, id, { ...NO_STATE, trial }, trial.outcome ? 200 : 422);
	});

	dashboard.post(`${TENANT_ROUTE}/endpoints/:id/recover`, async (c) => {
		const id = c.req.param("id");
		const form = await formOf(c);
		const values = { since: single(form, "since"), until: single(form, "until") };
		const body = {
			since: utcFromLocalInput(values.since),
			...(values.until.trim() === "" ? {} : { until: utcFromLocalInput(values.until) }),
		};
		const task = await c.var.api.send<Task>("POST", webhookPath(id, "/recover"), body);
		if (!task.ok) return actionFailed(c, id, "recover", task, values, { since: "since", until: "until" });
		return c.redirect(tenantPath(c.var.tenantId, `/tasks/${encodeURIComponent(task.data.id)}`), 303);
	});

	dashboard.post(`${TENANT_ROUTE}/endpoints/:id/delete`, async (c) => {
		const id = c.req.param("id");
		const deleted = await c.var.api.send("DELETE", webhookPath(id));
		if (!deleted.ok) return actionFailed(c, id, "delete", deleted, {}, {});
		return c.redirect(withQuery(tenantPath(c.var.tenantId, "/endpoints"), { notice: "deleted" }), 303);
	});
}
