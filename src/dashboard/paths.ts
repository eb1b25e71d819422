/** Where the dashboard's pages live; every link and form action is built here. */

export const DASHBOARD = "/dashboard";
export const ASSETS = `${DASHBOARD}/assets`;
export const SIGN_IN = `${DASHBOARD}/sign-in`;
export const SIGN_OUT = `${DASHBOARD}/sign-out`;

/** A page of a tenant's view (`/endpoints`, `/events/evt_…`). */
export function tenantPath(tenantId: string, rest = ""): string {
	return `${DASHBOARD}/t/${encodeURIComponent(tenantId)}${rest}`;
}

export function endpointPath(tenantId: string, endpointId: string, rest = ""): string {
	return tenantPath(tenantId, `/endpoints/${encodeURIComponent(endpointId)}${rest}`);
}

export function deliveryPath(tenantId: string, deliveryId: string, rest = ""): string {
	return tenantPath(tenantId, `/deliveries/${encodeURIComponent(deliveryId)}${rest}`);
}

/** `path?query` with empty values left out. */
export function withQuery(path: string, query: Record<string, string | number | null | undefined>): string {
	const params = new URLSearchParams();
	for (const [name, value] of Object.entries(query)) {
		if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
	}
	const text = params.toString();
	return text === "" ? path : `${path}?${text}`;
}
