import type { z } from "@hono/zod-openapi";
import type { Hono } from "hono";
import { KEY_CACHE_SECONDS } from "../../../auth/authenticate";
import { CONTROL_SHARD } from "../../../db/tenant-database";
import { DEFAULT_TENANT_ID } from "../../../db/tenants";
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from "../../../routes/portal-links";
import type { ApiKeyCreated, ApiKeyOut, TenantOut } from "../../../routes/tenants/schemas";
import { DEFAULT_TENANT_LIMITS, type TenantLimitName } from "../../../tenants/limits";
import { ActionForm, Copyable, Field, type FieldErrors, Notice, Pager, Time } from "../../components";
import { apiFailurePage, type DashboardContext, type DashboardEnv, formOf, render, single } from "../../context";
import { DASHBOARD, tenantPath, withQuery } from "../../paths";
import { PRESETS, presetById } from "../../presets";

type Tenant = z.infer<typeof TenantOut>;
type ApiKey = z.infer<typeof ApiKeyOut>;

interface PortalLink {
	url: string;
	expires_at: string;
	read_only: boolean;
	tenant_id: string;
}

const TENANTS = `${DASHBOARD}/tenants`;
const PAGE_SIZE = 100;
/** A portal link's life when the form does not say; the API's own default is an hour too. */
const DEFAULT_TTL_MINUTES = DEFAULT_TTL_SECONDS / 60;

function tenantPage(id: string, rest = ""): string {
	return `${TENANTS}/${encodeURIComponent(id)}${rest}`;
}

function tenantApi(id: string, rest = ""): string {
	return `/v1/tenants/${encodeURIComponent(id)}${rest}`;
}

/** Fixed texts for `?notice=`; the query only picks one. */
const NOTICES: Record<string, string> = {
	created: "Tenant created. Give it settings, an API key or a portal link below.",
	saved: "Settings saved. New deliveries use them at once.",
	limits_saved: "Limits saved. They apply to the next endpoint, event type or template the tenant creates.",
	key_revoked: `API key revoked. It stops working within ${KEY_CACHE_SECONDS} seconds everywhere.`,
	deleted: "Tenant deleted. Its data is being removed in the background.",
};

function NoticeFromQuery(props: { c: DashboardContext }) {
	const text = NOTICES[props.c.req.query("notice") ?? ""];
	return text ? <Notice kind="success">{text}</Notice> : null;
}

// ---------------------------------------------------------------- tenants list

async function tenantsPage(
	c: DashboardContext,
	form: { name: string; errors: FieldErrors; error?: string } = { name: "", errors: {} },
	status: 200 | 422 | 500 = 200,
): Promise<Response> {
	const cursor = c.req.method === "GET" ? (c.req.query("cursor") ?? "") : "";
	const list = await c.var.api.get<{ tenants: Tenant[]; next_cursor: string | null }>(
		withQuery("/v1/tenants", { limit: PAGE_SIZE, cursor }),
	);
	if (!list.ok) return apiFailurePage(c, list, "Tenants");
	const rows = list.data.tenants.filter((tenant) => tenant.id !== DEFAULT_TENANT_ID);
	// The built-in tenant heads the first page, whether or not the list holds its row.
	if (!cursor) {
		const listed = list.data.tenants.find((tenant) => tenant.id === DEFAULT_TENANT_ID);
		rows.unshift(
			listed ?? {
				id: DEFAULT_TENANT_ID,
				name: "Default",
				uid: null,
				metadata: {},
				settings: {},
				limits: { ...DEFAULT_TENANT_LIMITS },
				shard: CONTROL_SHARD,
				created_at: "",
				updated_at: "",
			},
		);
	}
	return render(
		c,
		{
			title: "Tenants",
			section: "tenants",
			children: (
				<>
					<NoticeFromQuery c={c} />
					<table>
						<thead>
							<tr>
								<th scope="col">Name</th>
								<th scope="col">Tenant ID</th>
								<th scope="col">Shard</th>
								<th scope="col">Created</th>
								<th scope="col">Links</th>
							</tr>
						</thead>
						<tbody>
							{rows.map((tenant) => (
								<tr>
									<td>
										{tenant.name}
										{tenant.id === DEFAULT_TENANT_ID ? <span class="muted"> (built in)</span> : null}
										{tenant.uid === null ? null : (
											<div class="muted">
												uid <code>{tenant.uid}</code>
											</div>
										)}
									</td>
									<td class="mono">{tenant.id}</td>
									<td class="mono">{tenant.shard}</td>
									<td>
										<Time value={tenant.id === DEFAULT_TENANT_ID ? null : tenant.created_at || null} empty="built in" />
									</td>
									<td>
										<span class="row">
											<a href={tenantPath(tenant.id, "/endpoints")}>Open tenant view</a>
											<a href={tenantPage(tenant.id)}>Settings</a>
										</span>
									</td>
								</tr>
							))}
						</tbody>
					</table>
					<Pager
						next={list.data.next_cursor === null ? null : withQuery(TENANTS, { cursor: list.data.next_cursor })}
						first={cursor ? TENANTS : null}
					/>
					<h2>Create a tenant</h2>
					{form.error ? <Notice kind="error">{form.error}</Notice> : null}
					<ActionForm session={c.var.session} action={TENANTS} class="stack">
						<Field label="Name" name="name" errors={form.errors} hint="Your customer's name; the ID is generated.">
							{(described) => <input type="text" name="name" value={form.name} required {...described} />}
						</Field>
						<div>
							<button type="submit">Create tenant</button>
						</div>
					</ActionForm>
				</>
			),
		},
		status,
	);
}

// ---------------------------------------------------------------- one tenant

/** The uid and metadata the API (or a Svix client) gave the tenant; they change through the API only. */
function TenantNames(props: { tenant: Tenant }) {
	const { uid, metadata } = props.tenant;
	const entries = Object.entries(metadata);
	return (
		<dl class="details">
			<dt>UID</dt>
			<dd>{uid === null ? <span class="muted">none</span> : <code>{uid}</code>}</dd>
			<dt>Metadata</dt>
			<dd>
				{entries.length === 0 ? (
					<span class="muted">none</span>
				) : (
					<table>
						<tbody>
							{entries.map(([key, value]) => (
								<tr>
									<th scope="row" class="mono">
										{key}
									</th>
									<td class="mono">{value}</td>
								</tr>
							))}
						</tbody>
					</table>
				)}
			</dd>
		</dl>
	);
}

/** The settings form's values as typed: empty means the default. */
interface SettingsDraft {
	name: string;
	signature_header: string;
	signature_prefix: string;
	user_agent: string;
	retry_schedule: string;
	timeout_ms: string;
}

function draftOf(name: string, settings: Tenant["settings"]): SettingsDraft {
	return {
		name,
		signature_header: settings.signature_header ?? "",
		signature_prefix: settings.signature_prefix ?? "",
		user_agent: settings.user_agent ?? "",
		retry_schedule: settings.retry_schedule?.join(", ") ?? "",
		timeout_ms: settings.timeout_ms === undefined ? "" : String(settings.timeout_ms),
	};
}

/** What the selected prefix option stands for: "default" leaves it to Edgehook's default (`sha256=`). */
const PREFIX_OPTIONS = [
	{ value: "default", label: "Default (sha256=)" },
	{ value: "sha256=", label: "sha256= before the hex" },
	{ value: "none", label: "None: bare hex" },
] as const;

function prefixOption(draft: SettingsDraft, explicit: boolean): string {
	if (!explicit) return "default";
	return draft.signature_prefix === "" ? "none" : "sha256=";
}

/** The limits form's values as typed: empty means the default. */
type LimitsDraft = Record<TenantLimitName, string>;

const LIMIT_FIELDS: { name: TenantLimitName; label: string }[] = [
	{ name: "max_endpoints", label: "Endpoints" },
	{ name: "max_event_types", label: "Event types" },
	{ name: "max_templates", label: "Templates" },
];

/** A limit equal to the default shows as empty, so saving the form unchanged keeps following the default. */
function limitsDraftOf(limits: Tenant["limits"]): LimitsDraft {
	const shown = (name: TenantLimitName) => (limits[name] === DEFAULT_TENANT_LIMITS[name] ? "" : String(limits[name]));
	return {
		max_endpoints: shown("max_endpoints"),
		max_event_types: shown("max_event_types"),
		max_templates: shown("max_templates"),
	};
}

interface TenantView {
	tenant: Tenant;
	draft: SettingsDraft;
	limitsDraft: LimitsDraft;
	limitErrors: FieldErrors;
	/** Whether the prefix is set (the empty prefix is a choice, not the default). */
	prefixSet: boolean;
	errors: FieldErrors;
	keyName: string;
	keyErrors: FieldErrors;
	linkErrors: FieldErrors;
	linkTtl: string;
	linkReadOnly: boolean;
	presetId: string;
	error?: string;
}

function SettingsForm(props: { c: DashboardContext; view: TenantView }) {
	const { c, view } = props;
	const { draft, errors } = view;
	const selected = prefixOption(draft, view.prefixSet);
	return (
		<>
			<form method="get" action={tenantPage(view.tenant.id)} class="filters">
				<div>
					<label for="preset">Preset</label>
					<select id="preset" name="preset" aria-describedby="preset-hint">
						<option value="">Choose a vendor's style…</option>
						{PRESETS.map((preset) => (
							<option value={preset.id} selected={preset.id === view.presetId}>
								{preset.label}
							</option>
						))}
					</select>
					<div class="hint" id="preset-hint">
						Fills the form below with a vendor's settings; nothing changes until you save.
					</div>
				</div>
				<div>
					<button type="submit" class="secondary">
						Load preset
					</button>
				</div>
			</form>
			<ActionForm session={c.var.session} action={tenantPage(view.tenant.id, "/settings")} class="stack">
				<Field label="Name" name="name" errors={errors}>
					{(described) => <input type="text" name="name" value={draft.name} required {...described} />}
				</Field>
				<Field
					label="Signature header"
					name="signature_header"
					errors={errors}
					hint="Carries the hex HMAC of the body; empty for X-Webhook-Signature."
				>
					{(described) => <input type="text" name="signature_header" value={draft.signature_header} {...described} />}
				</Field>
				<Field label="Signature prefix" name="signature_prefix" errors={errors}>
					{(described) => (
						<select name="signature_prefix" {...described}>
							{PREFIX_OPTIONS.map((option) => (
								<option value={option.value} selected={option.value === selected}>
									{option.label}
								</option>
							))}
						</select>
					)}
				</Field>
				<Field label="User agent" name="user_agent" errors={errors} hint="Empty for Edgehook's own.">
					{(described) => <input type="text" name="user_agent" value={draft.user_agent} {...described} />}
				</Field>
				<Field
					label="Retry schedule (seconds)"
					name="retry_schedule"
					errors={errors}
					hint="Seconds before each retry, separated by commas, e.g. 60, 300, 1800; empty for the deployment's."
				>
					{(described) => <input type="text" name="retry_schedule" value={draft.retry_schedule} {...described} />}
				</Field>
				<Field
					label="Timeout (ms)"
					name="timeout_ms"
					errors={errors}
					hint="How long an attempt may take; empty for the deployment's."
				>
					{(described) => (
						<input type="number" name="timeout_ms" value={draft.timeout_ms} min={1} step={1} {...described} />
					)}
				</Field>
				<div>
					<button type="submit">Save settings</button>
				</div>
			</ActionForm>
		</>
	);
}

function LimitsForm(props: { c: DashboardContext; view: TenantView }) {
	const { c, view } = props;
	return (
		<ActionForm session={c.var.session} action={tenantPage(view.tenant.id, "/limits")} class="stack">
			<p>
				{`Most the tenant may keep; creating one more is refused with 409 limit_reached. Only you can change these, not the tenant's keys. Now: ${view.tenant.limits.max_endpoints} endpoints, ${view.tenant.limits.max_event_types} event types, ${view.tenant.limits.max_templates} templates.`}
			</p>
			{LIMIT_FIELDS.map((field) => (
				<Field
					label={field.label}
					name={field.name}
					errors={view.limitErrors}
					hint={`Empty for the default, ${DEFAULT_TENANT_LIMITS[field.name]}.`}
				>
					{(described) => (
						<input
							type="number"
							name={field.name}
							value={view.limitsDraft[field.name]}
							placeholder={String(DEFAULT_TENANT_LIMITS[field.name])}
							min={0}
							step={1}
							{...described}
						/>
					)}
				</Field>
			))}
			<div>
				<button type="submit">Save limits</button>
			</div>
		</ActionForm>
	);
}

function ApiKeys(props: { c: DashboardContext; view: TenantView; keys: ApiKey[] }) {
	const { c, view, keys } = props;
	return (
		<>
			{keys.length === 0 ? (
				<p>No API keys yet.</p>
			) : (
				<table>
					<thead>
						<tr>
							<th scope="col">Prefix</th>
							<th scope="col">Name</th>
							<th scope="col">Created</th>
							<th scope="col">Last used</th>
							<th scope="col">
								<span class="sr-only">Actions</span>
							</th>
						</tr>
					</thead>
					<tbody>
						{keys.map((key) => (
							<tr>
								<td class="mono">{`${key.prefix}…`}</td>
								<td>{key.name}</td>
								<td>
									<Time value={key.created_at} />
								</td>
								<td>
									<Time value={key.last_used_at} />
								</td>
								<td>
									<ActionForm
										session={c.var.session}
										action={tenantPage(view.tenant.id, `/api-keys/${encodeURIComponent(key.id)}/revoke`)}
										confirm={`Revoke the key ${key.name}? Anything using it stops working.`}
									>
										<button type="submit" class="danger" aria-label={`Revoke ${key.name}`}>
											Revoke
										</button>
									</ActionForm>
								</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
			<ActionForm session={c.var.session} action={tenantPage(view.tenant.id, "/api-keys")} class="stack">
				<Field
					label="Key name"
					name="key_name"
					errors={view.keyErrors}
					hint="Where it is used, e.g. production backend."
				>
					{(described) => <input type="text" name="key_name" value={view.keyName} required {...described} />}
				</Field>
				<div>
					<button type="submit">Create key</button>
				</div>
			</ActionForm>
		</>
	);
}

function PortalLinkForm(props: { c: DashboardContext; view: TenantView }) {
	const { c, view } = props;
	return (
		<ActionForm session={c.var.session} action={tenantPage(view.tenant.id, "/portal-links")} class="stack">
			<Field
				label="Valid for (minutes)"
				name="ttl_minutes"
				errors={view.linkErrors}
				hint={`From 1 minute to ${MAX_TTL_SECONDS / 86400} days.`}
			>
				{(described) => (
					<input type="number" name="ttl_minutes" value={view.linkTtl} min={1} step={1} required {...described} />
				)}
			</Field>
			<div class="checks">
				<label>
					<input type="checkbox" name="read_only" value="1" checked={view.linkReadOnly} />
					Read-only: the link can browse but has no forms or actions
				</label>
			</div>
			<div>
				<button type="submit">Create portal link</button>
			</div>
		</ActionForm>
	);
}

async function tenantSettingsPage(
	c: DashboardContext,
	overrides: Partial<Omit<TenantView, "tenant">> = {},
	status: 200 | 409 | 422 | 500 = 200,
): Promise<Response> {
	const id = c.req.param("id") ?? "";
	const [tenantResult, keysResult] = await Promise.all([
		c.var.api.get<Tenant>(tenantApi(id)),
		c.var.api.get<{ api_keys: ApiKey[]; next_cursor: string | null }>(tenantApi(id, "/api-keys?limit=250")),
	]);
	if (!tenantResult.ok) return apiFailurePage(c, tenantResult, "Tenant");
	const tenant = tenantResult.data;
	const presetId = c.req.method === "GET" ? (c.req.query("preset") ?? "") : "";
	const preset = presetById(presetId);
	// A preset replaces every setting, so fields it leaves out go back to their defaults.
	const settings = preset ? preset.settings : tenant.settings;
	const view: TenantView = {
		tenant,
		draft: draftOf(tenant.name, settings),
		prefixSet: settings.signature_prefix !== undefined,
		errors: {},
		limitsDraft: limitsDraftOf(tenant.limits),
		limitErrors: {},
		keyName: "",
		keyErrors: {},
		linkErrors: {},
		linkTtl: String(DEFAULT_TTL_MINUTES),
		linkReadOnly: false,
		presetId: preset ? preset.id : "",
		...overrides,
	};
	return render(
		c,
		{
			title: `Tenant ${tenant.name}`,
			section: "tenants",
			children: (
				<>
					<NoticeFromQuery c={c} />
					{view.error ? <Notice kind="error">{view.error}</Notice> : null}
					<p class="row">
						<span>
							ID <code>{tenant.id}</code>
						</span>
						<span>
							Data on <code>{tenant.shard}</code>
						</span>
						<a href={tenantPath(tenant.id, "/endpoints")}>Open tenant view</a>
					</p>
					<TenantNames tenant={tenant} />
					<h2>Settings</h2>
					{preset ? <Notice>{`Preset loaded: ${preset.label}. Save settings to apply it.`}</Notice> : null}
					<SettingsForm c={c} view={view} />
					<h2>Limits</h2>
					<LimitsForm c={c} view={view} />
					<h2>API keys</h2>
					{keysResult.ok ? (
						<ApiKeys c={c} view={view} keys={keysResult.data.api_keys} />
					) : (
						<Notice kind="error">{keysResult.message}</Notice>
					)}
					<h2>Portal link</h2>
					<p>A signed link that opens this tenant's view without a key, until it expires.</p>
					<PortalLinkForm c={c} view={view} />
					{tenant.id === DEFAULT_TENANT_ID ? null : (
						<>
							<h2>Delete tenant</h2>
							<ActionForm
								session={c.var.session}
								action={tenantPage(tenant.id, "/delete")}
								confirm={`Delete the tenant ${tenant.name} and all its data? This cannot be undone.`}
							>
								<button type="submit" class="danger">
									Delete tenant
								</button>
							</ActionForm>
						</>
					)}
				</>
			),
		},
		status,
	);
}

/** The settings form as the PATCH's `settings`: an empty field puts the setting back to its default. */
function settingsPatch(draft: SettingsDraft, prefixChoice: string): Record<string, unknown> {
	const text = (value: string) => (value.trim() === "" ? null : value.trim());
	// A number the API checks; what is not a number goes as typed, so the API says what is wrong with it.
	const numberOr = (value: string) => (value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : value);
	const schedule = draft.retry_schedule
		.split(/[\s,]+/)
		.filter((part) => part !== "")
		.map(numberOr);
	return {
		signature_header: text(draft.signature_header),
		signature_prefix: prefixChoice === "none" ? "" : prefixChoice === "sha256=" ? "sha256=" : null,
		user_agent: text(draft.user_agent),
		retry_schedule: schedule.length === 0 ? null : schedule,
		timeout_ms: draft.timeout_ms.trim() === "" ? null : numberOr(draft.timeout_ms),
	};
}

/** The limits form as the PATCH's `limits`: an empty field puts the limit back to its default. */
function limitsPatch(draft: LimitsDraft): Record<TenantLimitName, number | string | null> {
	// A number the API checks; what is not a number goes as typed, so the API says what is wrong with it.
	const value = (typed: string) => {
		const trimmed = typed.trim();
		if (trimmed === "") return null;
		return Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed;
	};
	return {
		max_endpoints: value(draft.max_endpoints),
		max_event_types: value(draft.max_event_types),
		max_templates: value(draft.max_templates),
	};
}

/** The API's field paths (`limits.max_endpoints`) mapped onto the limits form's fields. */
function limitsErrors(fields: Record<string, string>): FieldErrors {
	const errors: FieldErrors = {};
	for (const [path, message] of Object.entries(fields)) {
		const name = path.split(".")[1] ?? "max_endpoints";
		errors[name] = errors[name] ? `${errors[name]}; ${message}` : message;
	}
	return errors;
}

/** The API's field paths (`settings.retry_schedule.0`) mapped onto the form's fields. */
function settingsErrors(fields: Record<string, string>): FieldErrors {
	const errors: FieldErrors = {};
	for (const [path, message] of Object.entries(fields)) {
		const parts = path.split(".");
		const name = parts[0] === "settings" ? (parts[1] ?? "name") : "name";
		errors[name] = errors[name] ? `${errors[name]}; ${message}` : message;
	}
	return errors;
}

export function registerTenantPages(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(TENANTS, (c) => tenantsPage(c));

	dashboard.post(TENANTS, async (c) => {
		const name = single(await formOf(c), "name").trim();
		const result = await c.var.api.send<Tenant>("POST", "/v1/tenants", { name });
		if (result.ok) return c.redirect(withQuery(tenantPage(result.data.id), { notice: "created" }), 303);
		if (result.status === 422) return tenantsPage(c, { name, errors: result.fields }, 422);
		return tenantsPage(c, { name, errors: {}, error: result.message }, 500);
	});

	dashboard.get(`${TENANTS}/:id`, (c) => tenantSettingsPage(c));

	dashboard.post(`${TENANTS}/:id/settings`, async (c) => {
		const id = c.req.param("id");
		const fields = await formOf(c);
		const draft: SettingsDraft = {
			name: single(fields, "name").trim(),
			signature_header: single(fields, "signature_header"),
			signature_prefix: single(fields, "signature_prefix") === "sha256=" ? "sha256=" : "",
			user_agent: single(fields, "user_agent"),
			retry_schedule: single(fields, "retry_schedule"),
			timeout_ms: single(fields, "timeout_ms"),
		};
		const prefixChoice = single(fields, "signature_prefix");
		const result = await c.var.api.send<Tenant>("PATCH", tenantApi(id), {
			name: draft.name,
			settings: settingsPatch(draft, prefixChoice),
		});
		if (result.ok) return c.redirect(withQuery(tenantPage(id), { notice: "saved" }), 303);
		if (result.status === 404) return apiFailurePage(c, result, "Tenant");
		const prefixSet = prefixChoice === "none" || prefixChoice === "sha256=";
		if (result.status === 422) {
			return tenantSettingsPage(c, { draft, prefixSet, errors: settingsErrors(result.fields) }, 422);
		}
		return tenantSettingsPage(c, { draft, prefixSet, error: result.message }, 500);
	});

	dashboard.post(`${TENANTS}/:id/limits`, async (c) => {
		const id = c.req.param("id");
		const fields = await formOf(c);
		const limitsDraft: LimitsDraft = {
			max_endpoints: single(fields, "max_endpoints"),
			max_event_types: single(fields, "max_event_types"),
			max_templates: single(fields, "max_templates"),
		};
		const result = await c.var.api.send<Tenant>("PATCH", tenantApi(id), { limits: limitsPatch(limitsDraft) });
		if (result.ok) return c.redirect(withQuery(tenantPage(id), { notice: "limits_saved" }), 303);
		if (result.status === 404) return apiFailurePage(c, result, "Tenant");
		if (result.status === 422) {
			return tenantSettingsPage(c, { limitsDraft, limitErrors: limitsErrors(result.fields) }, 422);
		}
		return tenantSettingsPage(c, { limitsDraft, error: result.message }, 500);
	});

	dashboard.post(`${TENANTS}/:id/api-keys`, async (c) => {
		const id = c.req.param("id");
		const keyName = single(await formOf(c), "key_name").trim();
		const result = await c.var.api.send<z.infer<typeof ApiKeyCreated>>("POST", tenantApi(id, "/api-keys"), {
			name: keyName,
		});
		if (!result.ok) {
			if (result.status === 404) return apiFailurePage(c, result, "Tenant");
			const status = result.status === 422 ? 422 : result.status === 409 ? 409 : 500;
			return tenantSettingsPage(c, { keyName, keyErrors: { key_name: result.fields.name ?? result.message } }, status);
		}
		// The key exists in full only in this answer: shown here once, never behind a redirect.
		return render(
			c,
			{
				title: "API key created",
				section: "tenants",
				children: (
					<>
						<Notice kind="success">
							{`Copy the key now: this is the only time it is shown. Edgehook keeps only a hash of it, so a lost key cannot be recovered; revoke it and create another.`}
						</Notice>
						<p>{`API key “${result.data.name}” for tenant ${id}:`}</p>
						<Copyable id="api-key" value={result.data.key} label="New API key" />
						<p>
							<a href={tenantPage(id)}>Back to the tenant</a>
						</p>
					</>
				),
			},
			201,
		);
	});

	dashboard.post(`${TENANTS}/:id/api-keys/:keyId/revoke`, async (c) => {
		const id = c.req.param("id");
		const result = await c.var.api.send(
			"DELETE",
			tenantApi(id, `/api-keys/${encodeURIComponent(c.req.param("keyId"))}`),
		);
		if (!result.ok) return apiFailurePage(c, result, "API key");
		return c.redirect(withQuery(tenantPage(id), { notice: "key_revoked" }), 303);
	});

	dashboard.post(`${TENANTS}/:id/portal-links`, async (c) => {
		const id = c.req.param("id");
		const fields = await formOf(c);
		const linkTtl = single(fields, "ttl_minutes").trim();
		const linkReadOnly = single(fields, "read_only") !== "";
		const minutes = Number(linkTtl === "" ? DEFAULT_TTL_MINUTES : linkTtl);
		const result = await c.var.api.send<PortalLink>("POST", tenantApi(id, "/portal-links"), {
			// Not a whole number of minutes goes as typed, so the API says what is wrong with it.
			ttl_seconds: Number.isFinite(minutes) ? Math.round(minutes * 60) : linkTtl,
			read_only: linkReadOnly,
		});
		if (!result.ok) {
			if (result.status === 404) return apiFailurePage(c, result, "Tenant");
			const problem = result.fields.ttl_seconds;
			const linkErrors: FieldErrors = problem ? { ttl_minutes: `in seconds, ${problem}` } : {};
			const status = result.status === 422 ? 422 : 500;
			return tenantSettingsPage(
				c,
				{ linkTtl, linkReadOnly, linkErrors, error: problem ? undefined : result.message },
				status,
			);
		}
		const link = result.data;
		// The link is a bearer credential: shown here once, never put in an address.
		return render(
			c,
			{
				title: "Portal link",
				section: "tenants",
				children: (
					<>
						<Notice kind="success">
							{`Anyone holding this link sees tenant ${link.tenant_id}${link.read_only ? " read-only" : ", and can change its endpoints,"} until it expires. It cannot be revoked; copy it now and send it only to that customer.`}
						</Notice>
						<Copyable id="portal-link" value={link.url} label="Portal link" />
						<dl class="details">
							<dt>Expires</dt>
							<dd>
								<Time value={link.expires_at} />
							</dd>
							<dt>Access</dt>
							<dd>{link.read_only ? "Read-only" : "Read and write"}</dd>
						</dl>
						<p>
							<a href={tenantPage(id)}>Back to the tenant</a>
						</p>
					</>
				),
			},
			201,
		);
	});

	dashboard.post(`${TENANTS}/:id/delete`, async (c) => {
		const result = await c.var.api.send("DELETE", tenantApi(c.req.param("id")));
		if (!result.ok) {
			if (result.status === 404) return apiFailurePage(c, result, "Tenant");
			return tenantSettingsPage(c, { error: result.message }, result.status === 409 ? 409 : 500);
		}
		return c.redirect(withQuery(TENANTS, { notice: "deleted" }), 303);
	});
}
