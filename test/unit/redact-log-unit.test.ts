import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { pipeRedacted, redactPortalTokens } from "../../scripts/lib/redact-log.mjs";

const TOKEN = "eyJ0ZW5hbnQiOiJ0ZW5fYWJjIn0.c2lnbmF0dXJlLWJ5dGVz";

describe("npm start's log filter", () => {
	it("keeps a portal link's path and drops its token", () => {
		const line = `[wrangler:info] GET /portal/${TOKEN} 200 OK (12ms)`;
		expect(redactPortalTokens(line)).toBe("[wrangler:info] GET /portal/[token] 200 OK (12ms)");
		expect(redactPortalTokens(`POST http://127.0.0.1:8787/portal/${TOKEN}?x=1`)).toBe(
			"POST http://127.0.0.1:8787/portal/[token]?x=1",
		);
		expect(redactPortalTokens("GET /dashboard/t/default/endpoints 200 OK")).toBe(
			"GET /dashboard/t/default/endpoints 200 OK",
		);
	});

	it("finds a token split across two chunks of output", async () => {
		const from = new PassThrough();
		const to = new PassThrough();
		let written = "";
		to.on("data", (chunk: Buffer) => {
			written += chunk.toString("utf8");
		});
		pipeRedacted(from, to);
		from.write(`GET /portal/${TOKEN.slice(0, 20)}`);
		from.write(`${TOKEN.slice(20)} 303 See Other\nnext line\n`);
		from.end();
		await new Promise((resolve) => setTimeout(resolve, 10));
		expect(written).toBe("GET /portal/[token] 303 See Other\nnext line\n");
		expect(written).not.toContain(TOKEN.slice(0, 20));
	});
});
