/*
 * Signed, expiring tokens for the dashboard: the session cookie and the
 * portal link. Both are `base64url(JSON).base64url(HMAC-SHA256)`, signed with
 * a key derived from ADMIN_API_KEY, one key per purpose, so a portal link can
 * never be replayed as a cookie or the other way round. Rotating the admin
 * key therefore signs everyone out and voids every portal link, which is what
 * an operator rotating it after a leak wants.
 */

export type TokenPurpose = "session" | "portal-link";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const derivedKeys = new Map<string, Promise<CryptoKey>>();

function signingKey(adminKey: string, purpose: TokenPurpose): Promise<CryptoKey> {
	const cacheKey = `${purpose}\u0000${adminKey}`;
	let key = derivedKeys.get(cacheKey);
	if (!key) {
		key = crypto.subtle
			.importKey("raw", encoder.encode(adminKey), "HKDF", false, ["deriveKey"])
			.then((material) =>
				crypto.subtle.deriveKey(
					{ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(`edgehook ${purpose} v1`) },
					material,
					{ name: "HMAC", hash: "SHA-256" },
					false,
					["sign", "verify"],
				),
			);
		derivedKeys.set(cacheKey, key);
	}
	return key;
}

function toBase64Url(bytes: Uint8Array): string {
	let binary = "";
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
	// A length of 1 mod 4 cannot be base64 at all, and atob throws on it.
	if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
	const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
	const bytes = new Uint8Array(binary.length);
	for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
	return bytes;
}

/** Random bytes as base64url, for CSRF tokens and nonces. */
export function randomToken(bytes = 16): string {
	return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function adminKeyOf(env: Env): string {
	const adminKey = env.ADMIN_API_KEY ?? "";
	// Without an admin key there is nothing to derive from, and a token signed
	// with an empty key would be forgeable: refuse instead.
	if (adminKey === "") throw new Error("ADMIN_API_KEY is not set; the dashboard cannot sign tokens");
	return adminKey;
}

/** Signs `claims` (which must carry `exp`, milliseconds since the epoch). */
export async function signToken(
	env: Env,
	purpose: TokenPurpose,
	claims: { exp: number } & Record<string, unknown>,
): Promise<string> {
	const payload = toBase64Url(encoder.encode(JSON.stringify(claims)));
	const key = await signingKey(adminKeyOf(env), purpose);
	const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(payload)));
	return `${payload}.${toBase64Url(signature)}`;
}

/** The token's claims when its signature is good and it has not expired; otherwise null. */
export async function verifyToken(
	env: Env,
	purpose: TokenPurpose,
	token: string,
): Promise<Record<string, unknown> | null> {
	if ((env.ADMIN_API_KEY ?? "") === "" || token.length > 4096) return null;
	const [payload, signature, extra] = token.split(".");
	if (payload === undefined || signature === undefined || extra !== undefined) return null;
	const signatureBytes = fromBase64Url(signature);
	const payloadBytes = fromBase64Url(payload);
	if (signatureBytes === null || payloadBytes === null) return null;
	const key = await signingKey(adminKeyOf(env), purpose);
	// verify() compares in constant time.
	if (!(await crypto.subtle.verify("HMAC", key, signatureBytes, encoder.encode(payload)))) return null;
	let claims: unknown;
	try {
		claims = JSON.parse(decoder.decode(payloadBytes));
	} catch {
		return null;
	}
	if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return null;
	const record = claims as Record<string, unknown>;
	if (typeof record.exp !== "number" || record.exp <= Date.now()) return null;
	return record;
}

/** What a portal link grants: one tenant's view, maybe read-only, until it expires. */
export interface PortalGrant {
	tenantId: string;
	/** The tenant key that made the link, if one did: revoking the key voids the link and its sessions. */
	keyId: string | null;
	readOnly: boolean;
	expiresAt: number;
}

export async function createPortalToken(env: Env, grant: PortalGrant): Promise<string> {
	return signToken(env, "portal-link", {
		tenant: grant.tenantId,
		key: grant.keyId,
		ro: grant.readOnly,
		exp: grant.expiresAt,
		nonce: randomToken(8),
	});
}

export async function readPortalToken(env: Env, token: string): Promise<PortalGrant | null> {
	const claims = await verifyToken(env, "portal-link", token);
	if (claims === null || typeof claims.tenant !== "string" || typeof claims.ro !== "boolean") return null;
	const keyId = typeof claims.key === "string" ? claims.key : null;
	return { tenantId: claims.tenant, keyId, readOnly: claims.ro, expiresAt: Number(claims.exp) };
}
