import { gt, lte } from "drizzle-orm";
import { revokedSessions } from "../db/schema";
import { controlDatabase } from "../db/tenant-database";

/*
 * Session cookies are signed and carry their own expiry, so reading one
 * costs no database read. Signing out must still end the session for
 * whoever copied the cookie, so each sign-out is written to a list that
 * every isolate reads at most once per REVOCATION_REFRESH_SECONDS: a page
 * costs no D1 read, and a cookie replayed after sign-out is refused by the
 * isolate that signed it out at once and by every other one within that bound.
 */

/** How stale an isolate's copy of the sign-out list may be. */
export const REVOCATION_REFRESH_SECONDS = 30;

let known: { ids: Set<string>; loadedAt: number } | undefined;

/** Ends the session `sessionId` for good (it would have expired at `expiresAt`). */
export async function revokeSession(env: Env, sessionId: string, expiresAt: number): Promise<void> {
	known?.ids.add(sessionId);
	await controlDatabase(env)
		.insert(revokedSessions)
		.values({ sessionId, expiresAt })
		.onConflictDoNothing({ target: revokedSessions.sessionId });
}

export async function isRevoked(env: Env, sessionId: string): Promise<boolean> {
	const now = Date.now();
	if (known === undefined || now - known.loadedAt >= REVOCATION_REFRESH_SECONDS * 1000) {
		const rows = await controlDatabase(env)
			.select({ sessionId: revokedSessions.sessionId })
			.from(revokedSessions)
			.where(gt(revokedSessions.expiresAt, now));
		known = { ids: new Set(rows.map((row) => row.sessionId)), loadedAt: now };
	}
	return known.ids.has(sessionId);
}

/** Removes sign-outs whose sessions have expired anyway; the daily retention calls it. */
export async function forgetExpiredRevocations(env: Env, nowMs: number): Promise<number> {
	const gone = await controlDatabase(env)
		.delete(revokedSessions)
		.where(lte(revokedSessions.expiresAt, nowMs))
		.returning({ sessionId: revokedSessions.sessionId });
	return gone.length;
}
