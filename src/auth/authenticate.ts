import { and, eq, isNull, lt, or } from "drizzle-orm";
import { apiKeys } from "../db/schema";
import { controlDatabase } from "../db/tenant-database";
import { digestMatchesSecret, secretDigest } from "../lib/auth";
import { API_KEY_PREFIX, apiKeyHashOf } from "./api-keys";

/** Who is calling: the operator's admin key, or one tenant's key. */
export type Principal = { kind: "admin" } | { kind: "tenant"; tenantId: string; keyId: string };

/**
 * How long an isolate trusts a key lookup. A revoked key is forgotten at once
 * by the isolate that revoked it, and by every other isolate within this bound.
 */
export const KEY_CACHE_SECONDS = 30;
/** A key's last-used time is written at most this often, so auth costs no write per request. */
const LAST_USED_RESOLUTION_MS = 3600 * 1000;
const KEY_CACHE_LIMIT = 10_000;

interface KnownKey {
	tenantId: string;
	keyId: string;
	lastUsedAt: number | null;
	checkedAt: number;
}

const knownKeys = new Map<string, KnownKey>();
const encoder = new TextEncoder();

/** Drops a key from this isolate's cache, e.g. right after it is revoked. */
export function forgetApiKey(hash: string): void {
	knownKeys.delete(hash);
}

async function lookUpKey(env: Env, hash: string, now: number): Promise<KnownKey | null> {
	const [row] = await controlDatabase(env)
		.select({ tenantId: apiKeys.tenantId, id: apiKeys.id, hash: apiKeys.hash, lastUsedAt: apiKeys.lastUsedAt })
		.from(apiKeys)
		.where(eq(apiKeys.hash, hash));
	// The index found the row by its hash; comparing in constant time as well keeps timing out of the answer.
	if (!row || !crypto.subtle.timingSafeEqual(encoder.encode(row.hash), encoder.encode(hash))) return null;
	if (knownKeys.size >= KEY_CACHE_LIMIT) knownKeys.clear();
	const known = { tenantId: row.tenantId, keyId: row.id, lastUsedAt: row.lastUsedAt, checkedAt: now };
	knownKeys.set(hash, known);
	return known;
}

/**
 * The principal a bearer token names, or null when it names none. Tenant
 * keys are looked up by their hash and cached for KEY_CACHE_SECONDS; their
 * last-used time is written in the background, at most once an hour.
 */
export async function authenticate(
	env: Env,
	token: string,
	background: (work: Promise<unknown>) => void,
): Promise<Principal | null> {
	const adminKey = env.ADMIN_API_KEY ?? "";
	const shapedLikeKey = token.startsWith(API_KEY_PREFIX) && token.length <= 128;
	if (adminKey === "" && !shapedLikeKey) return null;
	// One hash of the token serves the admin key's comparison and the key lookup: a tenant key is stored as this digest.
	const digest = await secretDigest(token);
	if (adminKey !== "" && (await digestMatchesSecret(digest, adminKey))) return { kind: "admin" };
	// Anything else that is not shaped like a key is refused without a database read.
	if (!shapedLikeKey) return null;
	const hash = apiKeyHashOf(digest);
	const now = Date.now();
	const cached = knownKeys.get(hash);
	const known = cached && now - cached.checkedAt < KEY_CACHE_SECONDS * 1000 ? cached : await lookUpKey(env, hash, now);
	if (!known) {
		forgetApiKey(hash);
		return null;
	}
	if (known.lastUsedAt === null || now - known.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
		known.lastUsedAt = now;
		// Conditional, so isolates that all noticed at once still write the row once.
		background(
			controlDatabase(env)
				.update(apiKeys)
				.set({ lastUsedAt: now })
				.where(
					and(
						eq(apiKeys.hash, hash),
						or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, now - LAST_USED_RESOLUTION_MS)),
					),
				),
		);
	}
	return { kind: "tenant", tenantId: known.tenantId, keyId: known.keyId };
}
