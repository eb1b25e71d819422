import { and, eq, gt, lte, sql } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { Principal } from "../auth/authenticate";
import { idempotencyRecords } from "../db/schema";
import { controlDatabase } from "../db/tenant-database";
import { ApiError, orUnavailable } from "../lib/errors";
import type { SvixEnv } from "./router";

/** How long the first answer to a key is replayed: Svix's 12 hours (../shared/SVIX-API.md section 7). */
export const IDEMPOTENCY_HOURS = 12;
const IDEMPOTENCY_MS = IDEMPOTENCY_HOURS * 60 * 60 * 1000;
/** A request still running under a key holds it this long at most; a crash must not block the key for 12 hours. */
const IN_FLIGHT_MS = 60 * 1000;
const IN_FLIGHT_STATUS = 0;
const MAX_KEY_LENGTH = 256;

/** Whose keys these are: one caller's keys never replay another's answers. */
function scopeOf(principal: Principal): string {
	return principal.kind === "admin" ? "admin" : `key:${principal.keyId}`;
}

/**
 * POSTs that keep their idempotency elsewhere. A message create passes its
 * key to the native event store, whose own idempotency index replays it:
 * a record here would cost the control database one write per message.
 */
export type IdempotencyExemption = (method: string, path: string) => boolean;

/**
 * Replays the first successful answer to a POST's `idempotency-key` for 12
 * hours. A key is held while its first request runs, so a second request
 * with it at the same time gets 409 rather than a second object; a failed
 * request releases the key, so the same key may try again.
 */
export function idempotentPosts(isExempt: IdempotencyExemption) {
	return createMiddleware<SvixEnv>(async (c, next) => {
		const key = c.req.header("idempotency-key");
		if (c.req.method !== "POST" || key === undefined || isExempt(c.req.method, c.req.path)) return next();
		if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
			throw new ApiError("invalid_request", `idempotency-key must be 1 to ${MAX_KEY_LENGTH} characters`);
		}
		const db = controlDatabase(c.env);
		const scope = scopeOf(c.var.principal);
		const request = `${c.req.method} ${c.req.path}`;
		const now = Date.now();
		const where = and(eq(idempotencyRecords.scope, scope), eq(idempotencyRecords.key, key));
		const claimed = await orUnavailable("the idempotency store", async () => {
			// An expired record, or an in-flight claim whose request died, gives the key back.
			await db.delete(idempotencyRecords).where(and(where, lte(idempotencyRecords.expiresAt, now)));
			return db
				.insert(idempotencyRecords)
				.values({ scope, key, request, status: IN_FLIGHT_STATUS, body: "", expiresAt: now + IN_FLIGHT_MS })
				.onConflictDoNothing()
				.returning({ key: idempotencyRecords.key });
		});
		if (claimed.length === 0) {
			const [record] = await orUnavailable("the idempotency store", () =>
				db
					.select()
					.from(idempotencyRecords)
					.where(and(where, gt(idempotencyRecords.expiresAt, now))),
			);
			if (!record || record.status === IN_FLIGHT_STATUS) {
				throw new ApiError(
					"conflict",
					"a request with this idempotency-key is still in progress; send it again shortly",
				);
			}
			if (record.request !== request) {
				throw new ApiError("conflict", `this idempotency-key was used for another request (${record.request})`);
			}
			return new Response(record.body === "" ? null : record.body, {
				status: record.status,
				headers: { "content-type": "application/json", "idempotent-replayed": "true" },
			});
		}
		let succeeded = false;
		try {
			await next();
			succeeded = c.res.status >= 200 && c.res.status < 300;
			if (succeeded) {
				const body = await c.res.clone().text();
				try {
					await db
						.update(idempotencyRecords)
						.set({ status: c.res.status, body, expiresAt: now + IDEMPOTENCY_MS })
						.where(where);
				} catch (error) {
					// The object exists: answer its success. The claim stays in flight until it expires, so a retry
					// in the meantime is told to wait (409) rather than creating a second one.
					console.error("storing an idempotent answer failed", error);
				}
			}
		} finally {
			if (!succeeded) {
				// Best effort: the claim expires by itself within IN_FLIGHT_MS if this delete fails too.
				await db
					.delete(idempotencyRecords)
					.where(and(where, eq(idempotencyRecords.status, IN_FLIGHT_STATUS)))
					.catch((error: unknown) => console.error("releasing an idempotency key failed", error));
			}
		}
	});
}

/** Records removed per statement, and statements per run, so one run never holds the control database long. */
const EXPIRED_PER_SLICE = 500;
const MAX_SLICES_PER_RUN = 200;

/** Removes records past their 12 hours; the daily retention calls it. */
export async function deleteExpiredIdempotencyRecords(env: Env, nowMs: number): Promise<number> {
	const db = controlDatabase(env);
	let removed = 0;
	for (let slice = 0; slice < MAX_SLICES_PER_RUN; slice++) {
		const expired = db
			.select({ scope: idempotencyRecords.scope, key: idempotencyRecords.key })
			.from(idempotencyRecords)
			.where(lte(idempotencyRecords.expiresAt, nowMs))
			.limit(EXPIRED_PER_SLICE);
		const gone = await db
			.delete(idempotencyRecords)
			.where(sql`(${idempotencyRecords.scope}, ${idempotencyRecords.key}) IN ${expired}`)
			.returning({ key: idempotencyRecords.key });
		removed += gone.length;
		if (gone.length < EXPIRED_PER_SLICE) break;
	}
	return removed;
}
