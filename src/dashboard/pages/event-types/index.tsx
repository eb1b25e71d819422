import type { Hono } from "hono";
import { ActionForm, Field, type FieldErrors, Notice, Pager, pretty, Time } from "../../components";
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

interface EventType {
	name: string;
	description: string;
	schema: Record<string, unknown> | null;
	example: Record<string, unknown> | null;
	built_in: boolean;
	created_at: string | null;
}

interface EventTypeList {
	event_types: EventType[];
	next_cursor: string | null;
}

/** The add form's fields as typed, so a refused form comes back as it was. */
interface Draft {
	name: string;
	description: string;
	schema: string;
	example: string;
}

const EMPTY_DRAFT: Draft = { name: "", description: "", schema: "", example: "" };

const NOTICES: Record<string, string> = {
	added: "Event type added to the catalog.",
};

const PAGE_SIZE = 100;

function JsonDetails(props: { label: string; value: Record<string, unknown> | null }) {
	if (props.value === null) return <span class="muted">none</span>;
	return (
		<details>
			<summary>{props.label}</summary>
			<pre>{pretty(props.value)}</pre>
		</details>
	);
}

function AddForm(props: { c: DashboardContext; draft: Draft; errors: FieldErrors }) {
	const { c, draft, errors } = props;
	return (
		<ActionForm session={c.var.session} action={tenantPath(c.var.tenantId, "/event-types")} class="stack">
			<Field label="Name" name="name" errors={errors} hint="Dot-separated words, e.g. invoice.paid">
				{(described) => <input type="text" name="name" value={draft.name} required {...described} />}
			</Field>
			<Field label="Description" name="description" errors={errors}>
				{(described) => <input type="text" name="description" value={draft.description} {...described} />}
			</Field>
			<Field label="Schema (JSON)" name="schema" errors={errors} hint="A JSON Schema object for the payload; optional.">
				{(described) => (
					<textarea name="schema" spellcheck={false} {...described}>
						{draft.schema}
					</textarea>
				)}
			</Field>
			<Field
				label="Example payload (JSON)"
				name="example"
				errors={errors}
				hint="A JSON object; a test send of this type carries it. Optional."
			>
				{(described) => (
					<textarea name="example" spellcheck={false} {...described}>
						{draft.example}
					</textarea>
				)}
			</Field>
			<div>
				<button type="submit">Add event type</button>
			</div>
		</ActionForm>
	);
}

async function catalogPage(
	c: DashboardContext,
	form: { draft: Draft; errors: FieldErrors; error?: string } = { draft: EMPTY_DRAFT, errors: {} },
	status: 200 | 409 | 422 | 500 = 200,
): Promise<Response> {
	const here = tenantPath(c.var.tenantId, "/event-types");
	const cursor = c.req.method === "GET" ? (c.req.query("cursor") ?? "") : "";
	const list = await c.var.api.get<EventTypeList>(withQuery("/v1/event-types", { limit: PAGE_SIZE, cursor }));
	if (!list.ok) return apiFailurePage(c, list, "Event types");
	const notice = NOTICES[c.req.query("notice") ?? ""];
	return render(
		c,
		{
			title: "Event types",
			section: "event-types",
			children: (
				<>
					{notice ? <Notice kind="success">{notice}</Notice> : null}
					<p class="muted">
						The catalog endpoints subscribe from. Built-in types are the operational events Edgehook sends itself.
					</p>
					<table>
						<thead>
							<tr>
								<th scope="col">Name</th>
								<th scope="col">Description</th>
								<th scope="col">Built in</th>
								<th scope="col">Schema</th>
								<th scope="col">Example</th>
								<th scope="col">Added</th>
							</tr>
						</thead>
						<tbody>
							{list.data.event_types.map((type) => (
								<tr>
									<td class="mono">{type.name}</td>
									<td>{type.description || <span class="muted">none</span>}</td>
									<td>{type.built_in ? "Yes" : "No"}</td>
									<td>
										<JsonDetails label={`Schema of ${type.name}`} value={type.schema} />
									</td>
									<td>
										<JsonDetails label={`Example of ${type.name}`} value={type.example} />
									</td>
									<td>
										<Time value={type.created_at} empty="built in" />
									</td>
								</tr>
							))}
						</tbody>
					</table>
					<Pager
						next={list.data.next_cursor === null ? null : withQuery(here, { cursor: list.data.next_cursor })}
						first={cursor ? here : null}
					/>
					{c.var.session.readOnly ? null : (
						<>
							<h2>Add an event type</h2>
							{form.error ? <Notice kind="error">{form.error}</Notice> : null}
							<AddForm c={c} draft={form.draft} errors={form.errors} />
						</>
					)}
				</>
			),
		},
		status,
	);
}

/** A JSON object typed into a textarea, or why it is not one; empty means none. */
export function parseObject(text: string): { value: Record<string, unknown> | undefined } | { problem: string } {
	if (text.trim() === "") return { value: undefined };
	try {
		const value: unknown = JSON.parse(text);
		if (typeof value !== "object" || value === null || Array.isArray(value))
			return { problem: "must be a JSON object" };
		return { value: value as Record<string, unknown> };
	} catch (error) {
		return { problem: `is not valid JSON (${error instanceof Error ? error.message : "parse error"})` };
	}
}

/** The API's field paths (`schema.type`, `example`) mapped onto the form's fields. */
function formErrors(fields: Record<string, string>): FieldErrors {
	const errors: FieldErrors = {};
	for (const [path, message] of Object.entries(fields)) {
		const name = path.split(".")[0] ?? path;
		const key = ["name", "description", "schema", "example"].includes(name) ? name : "name";
		errors[key] = errors[key] ? `${errors[key]}; ${message}` : message;
	}
	return errors;
}

export function registerEventTypePages(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/event-types`, (c) => catalogPage(c));

	dashboard.post(`${TENANT_ROUTE}/event-types`, async (c) => {
		const fields = await formOf(c);
		const draft: Draft = {
			name: single(fields, "name").trim(),
			description: single(fields, "description"),
			schema: single(fields, "schema"),
			example: single(fields, "example"),
		};
		const schema = parseObject(draft.schema);
		const example = parseObject(draft.example);
		const local: FieldErrors = {};
		if ("problem" in schema) local.schema = schema.problem;
		if ("problem" in example) local.example = example.problem;
		if ("problem" in schema || "problem" in example) return catalogPage(c, { draft, errors: local }, 422);
		const result = await c.var.api.send("POST", "/v1/event-types", {
			name: draft.name,
			...(draft.description === "" ? {} : { description: draft.description }),
			...(schema.value === undefined ? {} : { schema: schema.value }),
			...(example.value === undefined ? {} : { example: example.value }),
		});
		if (result.ok) return c.redirect(withQuery(tenantPath(c.var.tenantId, "/event-types"), { notice: "added" }), 303);
		if (result.status === 422) return catalogPage(c, { draft, errors: formErrors(result.fields) }, 422);
		if (result.status === 409 && result.code === "limit_reached") {
			return catalogPage(c, { draft, errors: {}, error: result.message }, 409);
		}
		if (result.status === 409) return catalogPage(c, { draft, errors: { name: result.message } }, 409);
		return catalogPage(c, { draft, errors: {}, error: result.message }, 500);
	});
}
