// `npm start`: everything a new user needs to run Edgehook locally, in order.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync } from "node:fs";

const DEV_VARS = ".dev.vars";

function run(command, args) {
	// No stdin: wrangler then takes its defaults instead of asking for confirmation.
	const result = spawnSync(command, args, { stdio: ["ignore", "inherit", "inherit"] });
	if (result.status !== 0) {
		console.error(`\n${command} ${args.join(" ")} failed with exit code ${result.status}`);
		process.exit(result.status ?? 1);
	}
}

if (!existsSync(DEV_VARS)) {
	copyFileSync(".dev.vars.example", DEV_VARS);
	console.log(`Created ${DEV_VARS} from .dev.vars.example`);
}
const adminKey = /^ADMIN_API_KEY=(.*)$/m.exec(readFileSync(DEV_VARS, "utf8"))?.[1]?.trim();

run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local"]);

console.log("\nEdgehook is starting on http://127.0.0.1:8787");
console.log(`Local admin key (from ${DEV_VARS}): ${adminKey ?? "(ADMIN_API_KEY is missing from .dev.vars)"}`);
console.log(`Try: curl -H "Authorization: Bearer ${adminKey ?? "<key>"}" http://127.0.0.1:8787/v1/webhooks\n`);

const dev = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", "8787"], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
