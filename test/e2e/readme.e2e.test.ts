/**
 * The README's walk-through, run as a user pastes it into a shell: a change
 * to the README that breaks it, or to the API that breaks the README, fails
 * here. Only what differs from `npm start` is replaced: the server's address
 * and key, and the receiver's port (a free one, so a busy 4000 cannot fail it).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/local-wrangler";
import { target } from "./support/context";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

/** The first shell block after the heading `## <heading>`. */
function shellBlock(heading: string): string {
	const start = README.indexOf(`\n## ${heading}\n`);
	if (start < 0) throw new Error(`the README has no section "${heading}"`);
	const block = /```sh\n([\s\S]*?)```/.exec(README.slice(start));
	if (!block?.[1]) throw new Error(`the README's section "${heading}" has no sh block`);
	return block[1];
}

/** Runs `script` with bash, stops it after `timeoutMs`, and answers what it printed. */
function runBash(script: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
	return new Promise((resolve) => {
		const shell = spawn("bash", ["-s"], { stdio: ["pipe", "pipe", "pipe"] });
		let output = "";
		shell.stdout.on("data", (chunk: Buffer) => {
			output += chunk.toString("utf8");
		});
		shell.stderr.on("data", (chunk: Buffer) => {
			output += chunk.toString("utf8");
		});
		const timer = setTimeout(() => shell.kill("SIGKILL"), timeoutMs);
		shell.on("close", (code) => {
			clearTimeout(timer);
			resolve({ code, output });
		});
		shell.stdin.end(script);
	});
}

describe("the README", () => {
	it("quick tour runs as pasted: an endpoint, an event delivered and signed, its log and its delivery", async () => {
		const { baseUrl, adminKey } = target();
		const block = shellBlock("A quick tour");
		expect(block).toMatch(/^KEY=change-me-local-admin-key$/m);
		expect(block).toMatch(/^API=http:\/\/127\.0\.0\.1:8787$/m);
		const port = await freePort();
		const script = block
			.replace(/^KEY=.*$/m, `KEY=${adminKey}`)
			.replace(/^API=.*$/m, `API=${baseUrl}`)
			.replaceAll("4000", String(port));
		// The receiver runs in the background, as in a terminal; the test stops it.
		const { code, output } = await runBash(`${script}\nkill %1\n`, 30_000);
		expect(code, output).toBe(0);
		// The receiver printed the signed request.
		expect(output).toMatch(/webhook-signature: v1,/);
		expect(output).toContain('"email":"ada@example.com"');
		// The log and the delivery both show it delivered; the delivery was found by the id the log gave.
		const deliveries = [...output.matchAll(/"id":"(del_[^"]+)"[^}]*"status":"success"/g)].map((match) => match[1]);
		expect(deliveries.length, output).toBeGreaterThanOrEqual(2);
		expect(new Set(deliveries).size).toBe(1);
		expect(output).toContain('"attempt_count":1');
	});
});
