/**
 * `npm run deploy` and `npm run setup` check the configuration before
 * `wrangler deploy` uploads anything (scripts/check-deploy.mjs): run here on
 * copies of the real wrangler.toml, whose ids are placeholders, and on
 * configurations made from it as setup makes wrangler.production.toml.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const SCRIPT = new URL("../../scripts/check-deploy.mjs", import.meta.url).pathname;
const TRACKED = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");

/** Each check's directory, removed when the file's tests end. */
const scratch: string[] = [];
afterAll(() => {
	for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function check(toml: string): { status: number | null; output: string } {
	const dir = mkdtempSync(join(tmpdir(), "edgehook-deploy-"));
	scratch.push(dir);
	const file = join(dir, "wrangler.toml");
	writeFileSync(file, toml);
	const result = spawnSync(process.execPath, [SCRIPT, file], { encoding: "utf8" });
	return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const REAL_ID = "3f1c2b9e-5d4a-4c1b-9e2f-7a6b5c4d3e2f";
const SHARD_2 = `[[d1_databases]]
binding = "SHARD_2"
database_name = "edgehook-shard-2"
database_id = "SHARD_2_ID"
migrations_dir = "migrations"

[[queues.producers]]`;

/** wrangler.toml with a real id for DB and a second shard whose id is `shardId` (absent when undefined). */
function withShard(shardId: string | undefined): string {
	const shard =
		shardId === undefined ? SHARD_2.replace(/^database_id = .*\n/m, "") : SHARD_2.replace("SHARD_2_ID", shardId);
	return TRACKED.replace(/^database_id = .*$/m, `database_id = "${REAL_ID}"`).replace("[[queues.producers]]", shard);
}

describe("the deploy check", () => {
	it("refuses the tracked wrangler.toml, whose database_id is the placeholder, naming the binding and the fix", () => {
		const { status, output } = check(TRACKED);
		expect(status).toBe(1);
		expect(output).toContain(
			"the D1 database DB (edgehook) still has the placeholder database_id 00000000-0000-0000-0000-000000000000",
		);
		expect(output).toContain("run `npm run setup`");
		expect(output).toContain("Nothing was deployed.");
	});

	it("refuses a D1 binding without a database_id", () => {
		const { status, output } = check(TRACKED.replace(/^database_id = .*$/m, ""));
		expect(status).toBe(1);
		expect(output).toContain("the D1 database DB (edgehook) has no database_id");
	});

	it("names the shard whose id is a placeholder, missing or not an id, and only that one", () => {
		for (const [shardId, problem] of [
			["00000000-0000-0000-0000-000000000000", "still has the placeholder database_id"],
			[undefined, "has no database_id"],
			["TODO", 'has database_id "TODO", which is not a D1 id'],
		] as const) {
			const { status, output } = check(withShard(shardId));
			expect(status, output).toBe(1);
			expect(output).toContain(`the D1 database SHARD_2 (edgehook-shard-2) ${problem}`);
			expect(output).not.toContain("the D1 database DB");
		}
	});

	it("refuses a configuration without a database bound as DB", () => {
		const { status, output } = check(
			withShard("8d0c5e4b-2f3a-4b1c-9d8e-7f6a5b4c3d2e").replace('binding = "DB"', 'binding = "MAIN"'),
		);
		expect(status).toBe(1);
		expect(output).toContain("binds no D1 database as DB");
	});

	it("refuses a rate limiter without a namespace_id", () => {
		const { status, output } = check(
			withShard("8d0c5e4b-2f3a-4b1c-9d8e-7f6a5b4c3d2e").replace('namespace_id = "1002"\n', ""),
		);
		expect(status).toBe(1);
		expect(output).toContain("the rate limiter MANAGEMENT_RATE_LIMITER needs a namespace_id");
	});

	it("passes once every id is a real one", () => {
		const { status, output } = check(withShard("8d0c5e4b-2f3a-4b1c-9d8e-7f6a5b4c3d2e"));
		expect(status, output).toBe(0);
		expect(output).toContain("every D1 binding has a database id");
	});
});
