/**
 * Webhook signatures, both styles the SPEC promises:
 * - Standard Webhooks: `v1,` + base64(HMAC-SHA256(key, `{id}.{timestamp}.{body}`)),
 *   key = base64-decoded part of the secret after `whsec_`.
 * - Seed style (`X-Webhook-Signature`): hex(HMAC-SHA256(UTF-8 bytes of the whole
 *   secret string, body)), optionally prefixed by `sha256=`.
 */
const SECRET_PREFIX = "whsec_";
const encoder = new TextEncoder();

/** Imported keys are reused across deliveries: importKey is not free and secrets repeat. */
const keyCache = new Map<string, Promise<CryptoKey>>();
const KEY_CACHE_LIMIT = 1000;

function importHmacKey(cacheKey: string, raw: Uint8Array): Promise<CryptoKey> {
	const cached = keyCache.get(cacheKey);
	if (cached) return cached;
	if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
	const key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	keyCache.set(cacheKey, key);
	return key;
}

function base64ToBytes(base64: string): Uint8Array {
	const binary = atob(base64);
	const bytes = new Uint8Array(binary.length);
	for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
	return bytes;
}

export function bytesToBase64(bytes: Uint8Array): string {
	let binary = "";
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary);
}

function bytesToHex(bytes: Uint8Array): string {
	let hex = "";
	for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
	return hex;
}

/** The Standard Webhooks key bytes of a secret, or null when it is not `whsec_` + base64. */
export function standardWebhooksKey(secret: string): Uint8Array | null {
	const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
	if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return null;
	return base64ToBytes(encoded);
}

/** The key sizes a given secret may have: Svix's (`whsec_` + 32 to 100 base64 characters). */
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 75;

/** A new secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
	return SECRET_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(32)));
}

async function hmac(cacheKey: string, rawKey: Uint8Array, message: string): Promise<Uint8Array> {
	const key = await importHmacKey(cacheKey, rawKey);
	return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
}

/** The `webhook-signature` value for one secret: `v1,<base64>`. */
export async function signStandardWebhooks(
	secret: string,
	messageId: string,
	timestampSeconds: number,
	body: string,
): Promise<string> {
	const rawKey = standardWebhooksKey(secret);
	if (!rawKey) throw new Error("secret is not whsec_ + base64");
	const mac = await hmac(`sw:${secret}`, rawKey, `${messageId}.${timestampSeconds}.${body}`);
	return `v1,${bytesToBase64(mac)}`;
}

/** The seed-style signature: prefix + hex HMAC of the body keyed by the whole secret string. */
export async function signBodyHex(secret: string, body: string, prefix: string): Promise<string> {
	const mac = await hmac(`hex:${secret}`, encoder.encode(secret), body);
	return prefix + bytesToHex(mac);
}
