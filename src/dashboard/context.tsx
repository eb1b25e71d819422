import type { Context } from "hono";
import { raw } from "hono/html";
import type { ApiCaller, ApiFailure } from "./api";
import { Notice } from "./components";
import { Layout, type LayoutProps } from "./layout";
import type { Session } from "./session";

export interface DashboardEnv {
	Bindings: Env;
	Variables: {
		session: Session;
		/** The tenant whose view the page is (unset on operator pages). */
		tenantId: string;
		/** The API, acting as the session on the page's tenant. */
		api: ApiCaller;
	};
}

export type DashboardContext = Context<DashboardEnv>;

/** Route pattern of the tenant view; `:tenantId` is checked against the session before any page runs. */
export const TENANT_ROUTE = "/dashboard/t/:tenantId";

/** Renders a page in the layout, for the session and tenant of the request. */
export function render(
	c: DashboardContext,
	props: Omit<LayoutProps, "session" | "tenantId">,
	status: 200 | 201 | 400 | 401 | 403 | 404 | 409 | 410 | 422 | 429 | 500 = 200,
	headers: Record<string, string> = {},
) {
	return c.html(
		<>
			{raw("<!DOCTYPE html>")}
			<Layout {...props} session={c.var.session ?? null} tenantId={c.var.tenantId ?? null} />
		</>,
		status,
		headers,
	);
}

export function notFoundPage(c: DashboardContext) {
	return render(
		c,
		{
			title: "Not found",
			children: <p>There is no such page here, or it belongs to another tenant.</p>,
		},
		404,
	);
}

/** A failed API call as a page: its message, and a 404 page for anything not found. */
export function apiFailurePage(c: DashboardContext, failure: ApiFailure, title = "Something went wrong") {
	if (failure.status === 404) return notFoundPage(c);
	const status =
		failure.status === 403 || failure.status === 422 || failure.status === 409 || failure.status === 429
			? failure.status
			: 500;
	return render(c, { title, children: <Notice kind="error">{failure.message}</Notice> }, status);
}

/** The posted form's fields; a repeated name (checkboxes) gives every value. */
export async function formOf(c: DashboardContext): Promise<Record<string, string | string[]>> {
	const body = await c.req.parseBody({ all: true });
	const fields: Record<string, string | string[]> = {};
	for (const [name, value] of Object.entries(body)) {
		if (typeof value === "string") fields[name] = value;
		else if (Array.isArray(value)) fields[name] = value.filter((item): item is string => typeof item === "string");
	}
	return fields;
}

/** One value of a form field: the first when repeated, "" when absent. */
export function single(fields: Record<string, string | string[]>, name: string): string {
	const value = fields[name];
	return (Array.isArray(value) ? value[0] : value) ?? "";
}

/** Every value of a form field. */
export function all(fields: Record<string, string | string[]>, name: string): string[] {
	const value = fields[name];
	if (value === undefined) return [];
	return Array.isArray(value) ? value : [value];
}
