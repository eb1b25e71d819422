import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { apiKeys } from "../db/schema";
import { controlDatabase } from "../db/tenant-database";
import { DEFAULT_TENANT_ID, getTenantOr404 } from "../db/tenants";
import { isRevoked, revokeSession } from "./revocations";
import { randomToken, signToken, verifyToken } from "./tokens";

/**
 * Who is signed in. `admin` and `tenant` signed in with an API key; `portal`
 * came through a portal link and has no key. A tenant or portal session sees
 * its own tenant only.
 */
export interface Session {
	/** Random, so that signing out can revoke this one session (src/dashboard/revocations.ts). */
	id: string;
	role: "admin" | "tenant" | "portal";
	tenantId: string | null;
	keyId: string | null;
	readOnly: boolean;
	/** The synchronizer token every form of this session carries. */
	csrf: string;
	expiresAt: number;
}

/** A key sign-in lasts a working day; a portal session lasts as long as its link. */
export const KEY_SESSION_SECONDS = 8 * 3600;

function isProduction(env: Env): boolean {
	return env.ENVIRONMENT !== "development";
}

/**
 * `__Host-` pins the cookie to this host and path `/` and demands Secure,
 * which browsers only honour over https, so local development (plain http)
 * uses the bare name.
 */
export function sessionCookieName(env: Env): string {
	return isProduction(env) ? "__Host-edgehook_session" : "edgehook_session";
}

/** Portal sessions inside an allowed frame need a cookie the browser sends in a third-party context. */
export function framedPortal(env: Env, session: Pick<Session, "role">): boolean {
	return session.role === "portal" && (env.PORTAL_FRAME_ANCESTORS ?? "").trim() !== "";
}

export async function startSession<E extends { Bindings: Env }>(
	c: Context<E>,
	fields: Omit<Session, "id" | "csrf" | "expiresAt">,
	expiresAt: number,
): Promise<Session> {
	const session: Session = { ...fields, id: randomToken(), csrf: randomToken(), expiresAt };
	const token = await signToken(c.env, "session", {
		sid: session.id,
		role: session.role,
		tenant: session.tenantId,
		key: session.keyId,
		ro: session.readOnly,
		csrf: session.csrf,
		exp: session.expiresAt,
	});
	const framed = framedPortal(c.env, session);
	setCookie(c, sessionCookieName(c.env), token, {
		path: "/",
		httpOnly: true,
		secure: isProduction(c.env) || framed,
		sameSite: framed ? "None" : "Strict",
		partitioned: framed,
		expires: new Date(expiresAt),
	});
	return session;
}

/** Signs out: the cookie is dropped from this browser and refused from anywhere else it was copied to. */
export async function endSession<E extends { Bindings: Env }>(c: Context<E>, session: Session): Promise<void> {
	await revokeSession(c.env, session.id, session.expiresAt);
	// A browser only drops a cookie named with the attributes it was set with (a partitioned one in particular).
	const framed = framedPortal(c.env, session);
	deleteCookie(c, sessionCookieName(c.env), {
		path: "/",
		secure: isProduction(c.env) || framed,
		sameSite: framed ? "None" : "Strict",
		partitioned: framed,
	});
}

function parseClaims(claims: Record<string, unknown>): Session | null {
	const { sid, role, tenant, key, ro, csrf, exp } = claims;
	if (role !== "admin" && role !== "tenant" && role !== "portal") return null;
	// A cookie from before sessions had ids cannot be signed out, so it is not accepted.
	if (typeof sid !== "string" || typeof csrf !== "string" || typeof ro !== "boolean" || typeof exp !== "number")
		return null;
	const tenantId = typeof tenant === "string" ? tenant : null;
	const keyId = typeof key === "string" ? key : null;
	if (role !== "admin" && tenantId === null) return null;
	if (role === "tenant" && keyId === null) return null;
	return { id: sid, role, tenantId, keyId, readOnly: ro, csrf, expiresAt: exp };
}

/** Whether the tenant exists and is not being deleted. */
export async function tenantIsLive(env: Env, tenantId: string): Promise<boolean> {
	if (tenantId === DEFAULT_TENANT_ID) return true;
	try {
		await getTenantOr404(controlDatabase(env), tenantId);
		return true;
	} catch {
		return false;
	}
}

/** Whether what the session stands on still exists: its tenant, and for a key sign-in the key (revoking it signs out). */
export async function stillValid(env: Env, session: Pick<Session, "role" | "tenantId" | "keyId">): Promise<boolean> {
	if (session.role === "admin" || session.tenantId === null) return true;
	if (!(await tenantIsLive(env, session.tenantId))) return false;
	// A portal session made from a tenant key's link stands on that key too.
	if (session.keyId === null) return true;
	const [key] = await controlDatabase(env)
		.select({ id: apiKeys.id })
		.from(apiKeys)
		.where(and(eq(apiKeys.tenantId, session.tenantId), eq(apiKeys.id, session.keyId)));
	return key !== undefined;
}

/** The request's session, or null when it has none, a forged, expired or signed-out one, or one whose key was revoked. */
export async function readSession<E extends { Bindings: Env }>(c: Context<E>): Promise<Session | null> {
	const token = getCookie(c, sessionCookieName(c.env));
	if (!token) return null;
	const claims = await verifyToken(c.env, "session", token);
	const session = claims === null ? null : parseClaims(claims);
	if (session === null || (await isRevoked(c.env, session.id)) || !(await stillValid(c.env, session))) return null;
	return session;
}
