/**
 * `npm run deploy` checks wrangler.toml before `wrangler deploy` uploads
 * anything (scripts/check-deploy.mjs): run here on copies of the real file.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = new URL("../../scripts/check-deploy.mjs", import.meta.url).pathname;
const TRACKED = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");

function check(toml: string): { status: number | null; output: string } {
	const file = join(mkdtempSync(join(tmpdir(), "edgehook-deploy-")), "wrangler.toml");
	writeFileSync(file, toml);
	const result = spawnSync(process.execPath, [SCRIPT, file], { encoding: "utf8" });
	return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("the deploy check", () => {
	it("refuses the tracked wrangler.toml, whose database_id is the placeholder, naming the binding and the fix", () => {
		const { status, output } = check(TRACKED);
		expect(status).toBe(1);
		expect(output).toContain(
			"the D1 database DB still has the placeholder database_id 00000000-0000-0000-0000-000000000000",
		);
		expect(output).toContain("npx wrangler d1 create edgehook");
		expect(output).toContain("Nothing was deployed.");
	});

	it("refuses a D1 binding without a database_id", () => {
		const { status, output } = check(TRACKED.replace(/^database_id = .*$/m, ""));
		expect(status).toBe(1);
		expect(output).toContain("the D1 database DB has no database_id");
	});

	it("passes once the id is a real one", () => {
		const { status, output } = check(
			TRACKED.replace(/^database_id = .*$/m, 'database_id = "3f1c2b9e-5d4a-4c1b-9e2f-7a6b5c4d3e2f"'),
		);
		expect(status, output).toBe(0);
		expect(output).toContain("every D1 binding has a database id");
	});
});
