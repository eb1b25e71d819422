/**
 * The README's shell blocks, run as a user pastes them: every ```sh and
 * ```bash block, top to bottom, in one fresh bash session (a user's one
 * terminal, so a block uses the variables, functions and background
 * receivers of the blocks before it). A change to the README that breaks a
 * walk-through, or to the API that breaks the README, fails here.
 *
 * Two words of a block's info string keep it from running:
 * - `setup` (```sh setup): installs or starts the service, which the suite
 *   already runs; the list below names them by their exact text.
 * - `cloudflare` (```sh cloudflare): needs a Cloudflare account; counted
 *   below, so a new one is noticed.
 * Only what differs from `npm start` is replaced: the server's address and
 * admin key, and the receivers' ports (free ones, so a busy 4000 cannot fail
 * it). Each block runs under `set -euo pipefail` and stops the session at its
 * first failing command.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/local-wrangler";
import { bodyOf, call, expectStatus, listAllIds } from "./support/api";
import { target } from "./support/context";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));

/** The blocks that install or start the service: not run, since the suite has the server. */
const SETUP_BLOCKS = ["npm install && npm start", "npm test"];
/** How many blocks need a Cloudflare account (deploy): not run. */
const CLOUDFLARE_BLOCKS = 2;
/** Commands that must never run here: they install, start, test or deploy. */
const NOT_RUNNABLE = /\bnpm (install|ci|start|test|run deploy)\b|\bwrangler (login|deploy|secret)\b|--remote\b/;

interface Block {
	/** The `## ` heading the block sits under. */
	heading: string;
	words: string[];
	text: string;
}

function shellBlocks(): Block[] {
	const blocks: Block[] = [];
	let heading = "";
	const lines = README.split("\n");
	for (let index = 0; index < lines.length; index++) {
		const line = lines[index] ?? "";
		if (line.startsWith("## ")) heading = line.slice(3);
		const fence = /^```(.*)$/.exec(line);
		if (!fence) continue;
		const end = lines.findIndex((candidate, at) => at > index && candidate === "```");
		if (end < 0) throw new Error(`the README's block at line ${index + 1} is not closed`);
		const words = (fence[1] ?? "").trim().split(/\s+/);
		if (words[0] === "sh" || words[0] === "bash") {
			blocks.push({ heading, words, text: `${lines.slice(index + 1, end).join("\n")}\n` });
		}
		index = end;
	}
	return blocks;
}

const needsCloudflare = (block: Block) => block.words.includes("cloudflare");
const isSetup = (block: Block) => block.words.includes("setup");

interface BlockRun {
	block: Block;
	/** Set when the block ran to its end. */
	finished: boolean;
	/** What the session printed while the block ran: its commands' output, and background receivers'. */
	output: string;
}

/** Runs the blocks in one bash session; a failing command ends the session, and the blocks after it do not run. */
async function runSession(blocks: Block[], timeoutMs: number): Promise<{ runs: BlockRun[]; code: number | null }> {
	const marker = (index: number, what: string) => `@@readme-block ${index} ${what}@@`;
	const script = [
		"set -euo pipefail",
		...blocks.flatMap((block, index) => [
			`printf '\\n%s\\n' '${marker(index, "start")}'`,
			block.text,
			`printf '\\n%s\\n' '${marker(index, "end")}'`,
		]),
	].join("\n");
	// A fresh shell: none of the test runner's variables, only what finds the tools.
	const shell: ChildProcess = spawn("bash", ["-s"], {
		cwd: REPOSITORY,
		env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LANG: "C.UTF-8" },
		stdio: ["pipe", "pipe", "pipe"],
		// Its own process group, so the receivers it leaves in the background are stopped with it.
		detached: true,
	});
	let output = "";
	const collect = (chunk: Buffer) => {
		output += chunk.toString("utf8");
	};
	shell.stdout?.on("data", collect);
	shell.stderr?.on("data", collect);
	const stopGroup = (signal: NodeJS.Signals) => {
		try {
			if (shell.pid !== undefined) process.kill(-shell.pid, signal);
		} catch {
			// The group is gone already.
		}
	};
	const timer = setTimeout(() => stopGroup("SIGKILL"), timeoutMs);
	const closed = new Promise<void>((resolve) => shell.on("close", () => resolve()));
	const exited = new Promise<number | null>((resolve) => shell.on("exit", (exitCode) => resolve(exitCode)));
	shell.stdin?.end(script);
	const code = await exited;
	// The background receivers hold the output open until they stop.
	stopGroup("SIGTERM");
	await closed;
	clearTimeout(timer);
	const runs = blocks.map((block, index) => {
		const start = output.indexOf(marker(index, "start"));
		const end = output.indexOf(marker(index, "end"));
		const finished = start >= 0 && end > start;
		const text = start < 0 ? "" : output.slice(start, finished ? end : undefined);
		return { block, finished, output: text };
	});
	return { runs, code };
}

/** The blocks' own checks, in README order: each runnable block must have one. */
const CHECKS: Array<{ block: RegExp; check: (run: BlockRun, session: string) => void }> = [
	{
		// A quick tour: an endpoint, an event delivered and signed, its log and its delivery.
		block: /# A receiver to deliver to/,
		check: (run, session) => {
			expect(session).toMatch(/webhook-signature: v1,/);
			expect(session).toContain('"email":"ada@example.com"');
			// The log and the delivery both show it delivered; the delivery was found by the id the log gave.
			const deliveries = [...run.output.matchAll(/"id":"(del_[^"]+)"[^}]*"status":"success"/g)].map(
				(match) => match[1],
			);
			expect(deliveries.length, run.output).toBeGreaterThanOrEqual(2);
			expect(new Set(deliveries).size).toBe(1);
			expect(run.output).toContain('"attempt_count":1');
		},
	},
	{
		block: /portal-links/,
		check: (run) => {
			const { baseUrl } = target();
			expect(run.output).toContain(`"url":"${baseUrl}/portal/`);
			expect(run.output).toContain('"read_only":true');
			expect(run.output).toContain('"tenant_id":"default"');
		},
	},
	{
		block: /"channel":"slack"/,
		check: (run) => expect(run.output).toMatch(/"id":"hook_[^"]+".*"channel":"slack"/s),
	},
	{
		block: /"channel":"discord"/,
		check: (run) => expect(run.output).toMatch(/"id":"hook_[^"]+".*"channel":"discord"/s),
	},
	{
		block: /"channel":"email"/,
		check: (run) => {
			expect(run.output).toMatch(/"id":"hook_[^"]+".*"channel":"email"/s);
			expect(run.output).toContain('"to":["ops@example.com"]');
		},
	},
	{
		// The transformation is saved on the quick tour's endpoint.
		block: /"transformation":/,
		check: (run) => {
			expect(run.output).toContain('"transformation":"data.plan = \\"pro\\" ? {\\"user\\": data.id');
			expect(run.output).toContain('"url":"http://127.0.0.1:');
		},
	},
	{
		block: /\/v1\/templates\/slack\/invoice\.paid/,
		check: (run) => expect(run.output).toMatch(/"channel":"slack".*"event_type":"invoice\.paid"/s),
	},
	{
		block: /"limits":/,
		check: (run) => {
			expect(run.output).toMatch(/"id":"ten_/);
			expect(run.output).toContain('"limits":{"max_endpoints":1000,"max_event_types":500,"max_templates":200}');
		},
	},
	{
		// Seed 000: the vendor's receiver accepts the delivery, and the log shows it.
		block: /seed000-receiver/,
		check: (run, session) => {
			expect(session).toContain("Received event: validation.completed");
			expect(run.output).toMatch(/"event_type":"validation\.completed".*"status":"success".*"status_code":200/s);
		},
	},
	{
		// The official Svix client against the Svix face: the message delivered, signed as Svix signs.
		block: /import \{ Svix \} from "svix"/,
		check: (run, session) => {
			expect(run.output).toMatch(/^inv_\d+ \[ 'status 0, HTTP 200' \]$/m);
			expect(session).toMatch(/svix-signature: v1,/);
			expect(session).toContain('"invoice":"inv_1001"');
		},
	},
];

/** What the session created on the suite's shared server, so it can be removed afterwards. */
interface Footprint {
	webhooks: string[];
	templates: string[];
	tenants: string[];
}

async function footprint(): Promise<Footprint> {
	const templates = bodyOf<{ templates: { channel: string; event_type: string }[] }>(
		expectStatus(await call("GET", "/v1/templates"), 200),
	).templates;
	return {
		webhooks: await listAllIds("/v1/webhooks", "webhooks"),
		templates: templates.map((template) => `${template.channel}/${template.event_type}`),
		tenants: await listAllIds("/v1/tenants", "tenants"),
	};
}

describe("the README", () => {
	const blocks = shellBlocks();
	const runnable = blocks.filter((block) => !needsCloudflare(block) && !isSetup(block));
	let before: Footprint;

	beforeAll(async () => {
		before = await footprint();
	});

	afterAll(async () => {
		// The session's endpoints and template live on the shared server: remove them so other files' events reach none.
		const after = await footprint();
		for (const id of after.webhooks.filter((hook) => !before.webhooks.includes(hook))) {
			await call("DELETE", `/v1/webhooks/${id}`);
		}
		for (const path of after.templates.filter((template) => !before.templates.includes(template))) {
			await call("DELETE", `/v1/templates/${path}`);
		}
		for (const id of after.tenants.filter((tenant) => !before.tenants.includes(tenant))) {
			await call("DELETE", `/v1/tenants/${id}`);
		}
	});

	it("marks the blocks that install, start or deploy, and runs none of them", () => {
		expect(blocks.filter(isSetup).map((block) => block.text.trim())).toEqual(SETUP_BLOCKS);
		expect(
			blocks.filter(needsCloudflare).length,
			"a block needing a Cloudflare account was added or removed: update CLOUDFLARE_BLOCKS",
		).toBe(CLOUDFLARE_BLOCKS);
		for (const block of runnable) {
			expect(block.text, "tag it ```sh setup or ```sh cloudflare").not.toMatch(NOT_RUNNABLE);
		}
	});

	it("runs every other shell block as pasted, top to bottom, in one fresh bash session", async () => {
		const { baseUrl, adminKey } = target();
		const ports = new Map([
			["4000", String(await freePort())],
			["4100", String(await freePort())],
		]);
		const pasted = runnable.map((block) => {
			// Every request goes through $API (comments aside), so the walk-through runs against any server,
			// the suite's own or a real `npm start` on 8787 (E2E_BASE_URL).
			const commands = block.text.replace(/^API=http:\/\/127\.0\.0\.1:8787$/m, "").replace(/^\s*#.*$/gm, "");
			expect(commands, `a block calls 8787 without $API:\n${block.text}`).not.toContain("127.0.0.1:8787");
			let text = block.text
				.replace(/^KEY=change-me-local-admin-key$/m, `KEY=${adminKey}`)
				.replace(/^API=http:\/\/127\.0\.0\.1:8787$/m, `API=${baseUrl}`);
			for (const [port, free] of ports) text = text.replace(new RegExp(`\\b${port}\\b`, "g"), free);
			const replaced = text.replace(/^\s*#.*$/gm, "");
			expect(replaced, "tag it ```sh setup or ```sh cloudflare").not.toMatch(NOT_RUNNABLE);
			return { ...block, text };
		});
		// Both walk-throughs that set the key and address were given the suite's.
		expect(pasted.filter((block) => block.text.includes(`KEY=${adminKey}\n`)).length).toBe(2);
		expect(pasted.filter((block) => block.text.includes(`API=${baseUrl}\n`)).length).toBe(2);

		const { runs, code } = await runSession(pasted, 90_000);
		const session = runs.map((run) => run.output).join("");
		for (const run of runs) {
			expect(
				run.finished,
				`the block under "${run.block.heading}" failed (bash exit ${code}):\n${run.block.text}\n--- it printed ---\n${run.output}`,
			).toBe(true);
			// An API answer with an error is a failure even though curl exits 0.
			expect(run.output, `an API error under "${run.block.heading}":\n${run.block.text}`).not.toContain('{"error":{');
		}
		expect(code).toBe(0);

		expect(runs.map((run) => CHECKS.findIndex((check) => check.block.test(run.block.text)))).toEqual(
			CHECKS.map((_, index) => index),
		);
		runs.forEach((run, index) => {
			CHECKS[index]?.check(run, session);
		});
	}, 120_000);
});
