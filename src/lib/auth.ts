const encoder = new TextEncoder();

/** The expected key's digest, kept per isolate: the key is fixed for the isolate's life. */
let expectedDigest: { key: string; digest: Promise<ArrayBuffer> } | undefined;

/** SHA-256 of a secret's UTF-8 bytes. */
export function secretDigest(secret: string): Promise<ArrayBuffer> {
	return crypto.subtle.digest("SHA-256", encoder.encode(secret));
}

/**
 * Compares a secret, given as its secretDigest, with `expected` in constant
 * time. Comparing digests gives equal lengths, so neither the content nor the
 * length of the expected key leaks through timing. Taking the digest lets a
 * caller hash a token once for this and for its key lookup as well.
 */
export async function digestMatchesSecret(givenDigest: ArrayBuffer, expected: string): Promise<boolean> {
	if (expectedDigest?.key !== expected) expectedDigest = { key: expected, digest: secretDigest(expected) };
	return crypto.subtle.timingSafeEqual(givenDigest, await expectedDigest.digest);
}
