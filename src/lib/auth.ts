const encoder = new TextEncoder();

/** The expected key's digest, kept per isolate: the key is fixed for the isolate's life. */
let expectedDigest: { key: string; digest: Promise<ArrayBuffer> } | undefined;

/**
 * Compares two secrets in constant time. Hashing both first gives equal
 * lengths, so neither the content nor the length of the expected key leaks
 * through timing.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
	if (expectedDigest?.key !== expected) {
		expectedDigest = { key: expected, digest: crypto.subtle.digest("SHA-256", encoder.encode(expected)) };
	}
	const [a, b] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(given)), expectedDigest.digest]);
	return crypto.subtle.timingSafeEqual(a, b);
}
