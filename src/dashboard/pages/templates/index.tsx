import type { Hono } from "hono";
import { TEMPLATED_CHANNELS, type TemplatedChannel } from "../../../channels/targets";
import { MAX_TRANSFORMATION_LENGTH } from "../../../channels/transform";
import { ActionForm, Field, type FieldErrors, Notice, Time } from "../../components";
import {
	apiFailurePage,
	type DashboardContext,
	type DashboardEnv,
	formOf,
	render,
	single,
	TENANT_ROUTE,
} from "../../context";
import { tenantPath, withQuery } from "../../paths";
import { CHANNEL_LABELS, ChannelBadge, loadCatalog } from "../endpoints/shared";

/** One entry of GET /v1/templates (src/routes/templates/index.ts). */
interface Template {
	channel: TemplatedChannel;
	event_type: string;
	expression: string;
	created_at: string;
	updated_at: string;
}

/** The template that covers every event type without one of its own, as the API spells it. */
const EVERY_TYPE = "*";

/** The form's fields as typed, so a refused save comes back as it was. */
interface Draft {
	channel: string;
	event_type: string;
	expression: string;
}

const EMPTY_DRAFT: Draft = { channel: TEMPLATED_CHANNELS[0], event_type: EVERY_TYPE, expression: "" };

/** Fixed texts for `?notice=`; the query only picks one. */
const NOTICES: Record<string, string> = {
	saved: "Template saved. Deliveries of the channel use it from now on, where the endpoint has no transformation.",
	deleted: "Template deleted. The channel's own layout applies again.",
};

const EXPRESSION_HINT =
	"A JSONata expression over the event ({id, type, created_at, data}). Slack: a message body such as " +
	'{"text": …, "blocks": […]}; Discord: {"content": …, "embeds": […]}; email: {"subject": …, "text": …, "html": …}. ' +
	"A result of nothing skips the delivery.";

function templatePath(channel: string, eventType: string): string {
	// encodeURIComponent leaves `*` as it is, which a path may carry unescaped.
	return `/v1/templates/${encodeURIComponent(channel)}/${encodeURIComponent(eventType)}`;
}

function TemplateTable(props: { c: DashboardContext; templates: Template[] }) {
	const { c } = props;
	const here = tenantPath(c.var.tenantId, "/templates");
	return (
		<table>
			<thead>
				<tr>
					<th scope="col">Channel</th>
					<th scope="col">Event type</th>
					<th scope="col">Expression</th>
					<th scope="col">Updated</th>
					{c.var.session.readOnly ? null : <th scope="col">Actions</th>}
				</tr>
			</thead>
			<tbody>
				{props.templates.map((template) => (
					<tr>
						<td>
							<ChannelBadge channel={template.channel} />
						</td>
						<td>
							<code>{template.event_type}</code>
							{template.event_type === EVERY_TYPE ? <span class="muted"> (every type without its own)</span> : null}
						</td>
						<td>
							<pre>{template.expression}</pre>
						</td>
						<td>
							<Time value={template.updated_at} />
						</td>
						{c.var.session.readOnly ? null : (
							<td>
								<div class="row">
									<a
										href={`${withQuery(here, { channel: template.channel, event_type: template.event_type })}#template-form`}
										aria-label={`Edit the ${CHANNEL_LABELS[template.channel]} template for ${template.event_type}`}
									>
										Edit
									</a>
									<ActionForm
										session={c.var.session}
										action={tenantPath(c.var.tenantId, "/templates/delete")}
										confirm={`Delete the ${CHANNEL_LABELS[template.channel]} template for ${template.event_type}?`}
									>
										<input type="hidden" name="channel" value={template.channel} />
										<input type="hidden" name="event_type" value={template.event_type} />
										<button
											type="submit"
											class="danger"
											aria-label={`Delete the ${CHANNEL_LABELS[template.channel]} template for ${template.event_type}`}
										>
											Delete
										</button>
									</ActionForm>
								</div>
							</td>
						)}
					</tr>
				))}
			</tbody>
		</table>
	);
}

function TemplateForm(props: { c: DashboardContext; draft: Draft; errors: FieldErrors; eventTypes: string[] }) {
	const { c, draft, errors } = props;
	return (
		<ActionForm
			session={c.var.session}
			action={tenantPath(c.var.tenantId, "/templates")}
			class="stack"
			id="template-form"
		>
			<Field label="Channel" name="channel" errors={errors}>
				{(described) => (
					<select name="channel" {...described}>
						{TEMPLATED_CHANNELS.map((channel) => (
							<option value={channel} selected={channel === draft.channel}>
								{CHANNEL_LABELS[channel]}
							</option>
						))}
					</select>
				)}
			</Field>
			<Field
				label="Event type"
				name="event_type"
				hint="An event type, or * for every type that has no template of its own. Saving over an existing template replaces it."
				errors={errors}
			>
				{(described) => (
					<>
						<input
							type="text"
							name="event_type"
							value={draft.event_type}
							list="template-type-names"
							required
							{...described}
						/>
						<datalist id="template-type-names">
							{[EVERY_TYPE, ...props.eventTypes].map((name) => (
								<option value={name} />
							))}
						</datalist>
					</>
				)}
			</Field>
			<Field label="Expression (JSONata)" name="expression" hint={EXPRESSION_HINT} errors={errors}>
				{(described) => (
					<textarea name="expression" spellcheck={false} maxlength={MAX_TRANSFORMATION_LENGTH} required {...described}>
						{draft.expression}
					</textarea>
				)}
			</Field>
			<div>
				<button type="submit">Save template</button>
			</div>
		</ActionForm>
	);
}

async function templatesPage(
	c: DashboardContext,
	form?: { draft: Draft; errors: FieldErrors; error?: string },
	status: 200 | 404 | 409 | 422 | 429 | 500 = 200,
): Promise<Response> {
	const [list, catalog] = await Promise.all([
		c.var.api.get<{ templates: Template[] }>("/v1/templates"),
		loadCatalog(c.var.api),
	]);
	if (!list.ok) return apiFailurePage(c, list, "Templates");
	const notice = c.req.method === "GET" ? NOTICES[c.req.query("notice") ?? ""] : undefined;
	// An Edit link names the template to load into the form.
	const editing =
		c.req.method === "GET"
			? list.data.templates.find(
					(template) =>
						template.channel === c.req.query("channel") && template.event_type === c.req.query("event_type"),
				)
			: undefined;
	const draft = form?.draft ?? (editing ? { ...editing } : EMPTY_DRAFT);
	return render(
		c,
		{
			title: "Templates",
			section: "templates",
			children: (
				<>
					{notice ? <Notice kind="success">{notice}</Notice> : null}
					<p class="muted">
						A template replaces the built-in layout of the Slack, Discord or email messages for an event type, in every
						endpoint of the channel that has no transformation of its own. A type's own template wins over the one for
						every type (*).
					</p>
					{list.data.templates.length === 0 ? (
						<p class="muted">No templates: every channel uses its own layout.</p>
					) : (
						<TemplateTable c={c} templates={list.data.templates} />
					)}
					{c.var.session.readOnly ? null : (
						<>
							<h2>{editing ? "Replace the template" : "Add or replace a template"}</h2>
							{form?.error ? <Notice kind="error">{form.error}</Notice> : null}
							<TemplateForm
								c={c}
								draft={draft}
								errors={form?.errors ?? {}}
								eventTypes={catalog.map((type) => type.name)}
							/>
						</>
					)}
				</>
			),
		},
		status,
	);
}

/** The API's field names are the form's; anything else is about the template as a whole. */
function formErrors(fields: Record<string, string>): FieldErrors {
	const errors: FieldErrors = {};
	for (const [path, message] of Object.entries(fields)) {
		const name = ["channel", "event_type", "expression"].includes(path) ? path : "expression";
		errors[name] = errors[name] ? `${errors[name]}; ${message}` : message;
	}
	return errors;
}

export function registerTemplatePages(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/templates`, (c) => templatesPage(c));

	dashboard.post(`${TENANT_ROUTE}/templates`, async (c) => {
		const fields = await formOf(c);
		const draft: Draft = {
			channel: single(fields, "channel"),
			event_type: single(fields, "event_type").trim(),
			expression: single(fields, "expression"),
		};
		// An empty type would leave the API's path without its last segment: no template route at all.
		if (draft.event_type === "") return templatesPage(c, { draft, errors: { event_type: "is required" } }, 422);
		const saved = await c.var.api.send("PUT", templatePath(draft.channel, draft.event_type), {
			expression: draft.expression,
		});
		if (saved.ok) return c.redirect(withQuery(tenantPath(c.var.tenantId, "/templates"), { notice: "saved" }), 303);
		if (saved.status === 422 || saved.status === 400) {
			const errors = formErrors(saved.fields);
			return templatesPage(
				c,
				{ draft, errors, error: Object.keys(errors).length === 0 ? saved.message : undefined },
				422,
			);
		}
		return templatesPage(
			c,
			{ draft, errors: {}, error: saved.message },
			saved.status === 409 || saved.status === 429 ? saved.status : 500,
		);
	});

	dashboard.post(`${TENANT_ROUTE}/templates/delete`, async (c) => {
		const fields = await formOf(c);
		const deleted = await c.var.api.send(
			"DELETE",
			templatePath(single(fields, "channel"), single(fields, "event_type")),
		);
		if (deleted.ok) return c.redirect(withQuery(tenantPath(c.var.tenantId, "/templates"), { notice: "deleted" }), 303);
		// Already gone (another tab deleted it) or refused: the list as it is now, with why.
		return templatesPage(
			c,
			{ draft: EMPTY_DRAFT, errors: {}, error: `Not deleted: ${deleted.message}` },
			deleted.status === 404 ? 404 : deleted.status === 429 ? 429 : 500,
		);
	});
}
