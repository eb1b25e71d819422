import { bytesToBase64 } from "../delivery/signing";
import { secretDigest } from "../lib/auth";

/** Every tenant key starts with this, so a leaked one is easy to recognise and to scan for. */
export const API_KEY_PREFIX = "ehk_";
const KEY_BYTES = 32;
/** Characters of the key, after its prefix, that stay visible in listings. */
const VISIBLE_CHARS = 8;
export interface NewApiKey {
	/** The key in full: shown once, never stored. */
	key: string;
	/** What listings show, enough to tell keys apart. */
	prefix: string;
	hash: string;
}

function base64Url(bytes: Uint8Array): string {
	return bytesToBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The stored form of a key. A plain SHA-256 is enough: keys are 32 random
 * bytes, so there is nothing to guess that a slow hash would protect.
 */
export async function hashApiKey(key: string): Promise<string> {
	return apiKeyHashOf(await secretDigest(key));
}

/** The stored form of a key from its secretDigest, for a caller that has the digest already. */
export function apiKeyHashOf(digest: ArrayBuffer): string {
	let hex = "";
	for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
	return hex;
}

export async function generateApiKey(): Promise<NewApiKey> {
	const key = API_KEY_PREFIX + base64Url(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
	return { key, prefix: key.slice(0, API_KEY_PREFIX.length + VISIBLE_CHARS), hash: await hashApiKey(key) };
}
