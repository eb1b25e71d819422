import type { Child } from "hono/jsx";
import type { Session } from "./session";

/**
 * A form of the signed-in session, with its CSRF token. A read-only session
 * gets no forms at all, so a read-only portal offers no action.
 */
export function ActionForm(props: {
	session: Session;
	action: string;
	class?: string;
	confirm?: string;
	id?: string;
	children?: Child;
}) {
	if (props.session.readOnly) return null;
	return (
		<form
			method="post"
			action={props.action}
			class={props.class ?? "inline"}
			id={props.id}
			data-confirm={props.confirm}
		>
			<input type="hidden" name="_csrf" value={props.session.csrf} />
			{props.children}
		</form>
	);
}

/** Field problems from the API, by field path. */
export type FieldErrors = Record<string, string>;

function errorId(name: string): string {
	return `${name.replace(/[^a-zA-Z0-9_-]/g, "-")}-error`;
}

/** A labelled control with its hint and, after a failed save, the API's problem with it next to it. */
export function Field(props: {
	label: string;
	name: string;
	errors?: FieldErrors;
	hint?: string;
	children: (described: { id: string; "aria-describedby"?: string; "aria-invalid"?: "true" }) => Child;
}) {
	const error = props.errors?.[props.name];
	const id = `field-${props.name.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
	const hintId = props.hint ? `${id}-hint` : undefined;
	const describedBy = [hintId, error ? errorId(props.name) : undefined].filter(Boolean).join(" ");
	return (
		<div>
			<label for={id}>{props.label}</label>
			{props.hint ? (
				<div class="hint" id={hintId}>
					{props.hint}
				</div>
			) : null}
			{props.children({
				id,
				...(describedBy ? { "aria-describedby": describedBy } : {}),
				...(error ? { "aria-invalid": "true" as const } : {}),
			})}
			{error ? (
				<div class="field-error" id={errorId(props.name)}>
					{error}
				</div>
			) : null}
		</div>
	);
}

export function Notice(props: { kind?: "info" | "error" | "success"; children?: Child }) {
	return (
		<div class={`notice ${props.kind ?? "info"}`} role={props.kind === "error" ? "alert" : "status"}>
			{props.children}
		</div>
	);
}

export function Badge(props: { value: string; label?: string }) {
	return <span class={`badge ${props.value}`}>{props.label ?? props.value.replace("_", " ")}</span>;
}

/** Names (labels, tags) as code, separated by commas; `empty` in muted words when there are none. */
export function CodeList(props: { items: readonly string[] | null; empty: string }) {
	if (props.items === null || props.items.length === 0) return <span class="muted">{props.empty}</span>;
	return (
		<>
			{props.items.map((item, index) => (
				<>
					{index > 0 ? ", " : ""}
					<code>{item}</code>
				</>
			))}
		</>
	);
}

/** A timestamp in UTC, readable and machine-readable. */
export function Time(props: { value: string | number | null | undefined; empty?: string }) {
	if (props.value === null || props.value === undefined) return <span class="muted">{props.empty ?? "never"}</span>;
	const date = new Date(props.value);
	if (Number.isNaN(date.getTime())) return <span>{String(props.value)}</span>;
	const iso = date.toISOString();
	return <time datetime={iso}>{`${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`}</time>;
}

/** A value people copy: shown in a read-only box, with a copy button that the script reveals. */
export function Copyable(props: { id: string; value: string; label: string }) {
	return (
		<span class="secret">
			<input type="text" readonly id={props.id} value={props.value} aria-label={props.label} class="mono" size={48} />
			<button type="button" class="secondary" data-copy={props.id} data-label="Copy" hidden>
				Copy
			</button>
		</span>
	);
}

export function Pager(props: { next: string | null; first?: string | null }) {
	if (props.next === null && !props.first) return null;
	return (
		<nav class="pager" aria-label="Pages">
			{props.first ? <a href={props.first}>First page</a> : null}
			{props.next ? <a href={props.next}>Next page</a> : null}
		</nav>
	);
}

export function pretty(value: unknown): string {
	if (typeof value === "string") {
		try {
			return JSON.stringify(JSON.parse(value), null, 2);
		} catch {
			return value;
		}
	}
	return JSON.stringify(value, null, 2) ?? "";
}
