// `npm run deploy` and `npm run setup` run this before `wrangler deploy`: a D1
// binding whose id is still the placeholder (or missing) would otherwise pass
// `deploy --dry-run` and fail, or worse bind nothing, only once uploaded.
import { existsSync, readFileSync } from "node:fs";
import { PRODUCTION_CONFIG, productionConfig } from "./lib/production-config.mjs";
import { d1Databases, rateLimits } from "./lib/wrangler-toml.mjs";

const PLACEHOLDER = /^0{8}-0{4}-0{4}-0{4}-0{12}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FIX = "run `npm run setup`: it creates the database, or finds it by name, and writes its id there";

/** What keeps this configuration from deploying, one line each; empty when nothing does. */
export function deployProblems(toml, file = PRODUCTION_CONFIG) {
	const databases = d1Databases(toml);
	const problems = [];
	if (!databases.some((database) => database.binding === "DB")) {
		problems.push(`${file} binds no D1 database as DB: Edgehook keeps its tenants there; ${FIX}`);
	}
	for (const { binding, databaseName, databaseId } of databases) {
		const name = `${binding ?? "(no binding name)"}${databaseName ? ` (${databaseName})` : ""}`;
		if (databaseId === undefined || databaseId.trim() === "") {
			problems.push(`${file}: the D1 database ${name} has no database_id: ${FIX}`);
		} else if (PLACEHOLDER.test(databaseId)) {
			problems.push(`${file}: the D1 database ${name} still has the placeholder database_id ${databaseId}: ${FIX}`);
		} else if (!UUID.test(databaseId)) {
			problems.push(`${file}: the D1 database ${name} has database_id "${databaseId}", which is not a D1 id: ${FIX}`);
		}
	}
	for (const { name, namespaceId } of rateLimits(toml)) {
		if (namespaceId === undefined || !/^[1-9]\d*$/.test(namespaceId)) {
			problems.push(
				`${file}: the rate limiter ${name ?? "(no name)"} needs a namespace_id, a positive integer of your choice (docs/OPERATIONS.md, "Rate-limit namespace ids")`,
			);
		}
	}
	return problems;
}

/**
 * Whether `generated` is what setup would write from `tracked` with the same ids: when wrangler.toml
 * changed since (a pull, an edited setting), deploying the old copy would quietly leave the change out.
 */
export function isCurrent(generated, tracked) {
	const ids = Object.fromEntries(rateLimits(generated).map((limit) => [limit.name, limit.namespaceId]));
	try {
		return productionConfig(tracked, d1Databases(generated), ids) === generated;
	} catch {
		return false;
	}
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const file = process.argv[2] ?? PRODUCTION_CONFIG;
	if (!existsSync(file)) {
		console.error(
			`${file} does not exist: run \`npm run setup\` first; it creates the resources and writes this file.`,
		);
		console.error("Nothing was deployed.");
		process.exit(1);
	}
	const text = readFileSync(file, "utf8");
	const problems = deployProblems(text, file);
	const stale =
		file === PRODUCTION_CONFIG &&
		existsSync("wrangler.toml") &&
		!isCurrent(text, readFileSync("wrangler.toml", "utf8"));
	if (stale) {
		problems.push(
			`${file} is older than wrangler.toml: run \`npm run setup\`, which writes it again from wrangler.toml, applies new migrations and deploys`,
		);
	}
	if (problems.length > 0) {
		for (const problem of problems) console.error(problem);
		console.error("Nothing was deployed.");
		process.exit(1);
	}
	console.log(`${file}: every D1 binding has a database id`);
}
