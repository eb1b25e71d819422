import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { API_KEY_PREFIX, generateApiKey, hashApiKey } from "../../src/auth/api-keys";

describe("API keys", () => {
	it("are 32 random bytes after the prefix, listed by a short prefix, stored as SHA-256", async () => {
		const generated = await generateApiKey();
		expect(generated.key).toMatch(/^ehk_[A-Za-z0-9_-]{43}$/);
		expect(generated.key.startsWith(generated.prefix)).toBe(true);
		expect(generated.prefix).toHaveLength(API_KEY_PREFIX.length + 8);
		expect(generated.hash).toBe(createHash("sha256").update(generated.key).digest("hex"));
		expect(await hashApiKey(generated.key)).toBe(generated.hash);
	});

	it("never repeat", async () => {
		const keys = await Promise.all(Array.from({ length: 200 }, () => generateApiKey()));
		expect(new Set(keys.map((generated) => generated.key)).size).toBe(200);
	});
});
