// `npm run deploy` runs this before `wrangler deploy`: a D1 binding whose id is
// still the placeholder (or missing) would otherwise pass `deploy --dry-run`
// and fail, or worse bind nothing, only once uploaded.
import { readFileSync } from "node:fs";

const PLACEHOLDER = /^0{8}-0{4}-0{4}-0{4}-0{12}$/;

/** The `[[d1_databases]]` tables of a wrangler.toml: each binding with its database_id, if it has one. */
export function d1Bindings(toml) {
	const bindings = [];
	let current = null;
	for (const line of toml.split("\n")) {
		const header = /^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$/.exec(line);
		if (header) {
			current = header[1].trim() === "d1_databases" ? { binding: null, databaseId: null } : null;
			if (current) bindings.push(current);
			continue;
		}
		if (!current) continue;
		const entry = /^\s*(binding|database_id)\s*=\s*"([^"]*)"/.exec(line);
		if (entry?.[1] === "binding") current.binding = entry[2];
		if (entry?.[1] === "database_id") current.databaseId = entry[2];
	}
	return bindings;
}

/** What keeps this configuration from deploying, one line each; empty when nothing does. */
export function deployProblems(toml, file = "wrangler.toml") {
	const bindings = d1Bindings(toml);
	if (bindings.length === 0) return [`${file} binds no D1 database: Edgehook needs the one bound as DB`];
	return bindings.flatMap(({ binding, databaseId }) => {
		const name = binding ?? "(no binding name)";
		if (databaseId === null || databaseId.trim() === "") {
			return [
				`${file}: the D1 database ${name} has no database_id: create it with \`npx wrangler d1 create edgehook\` and put the id it prints there`,
			];
		}
		if (PLACEHOLDER.test(databaseId)) {
			return [
				`${file}: the D1 database ${name} still has the placeholder database_id ${databaseId}: create it with \`npx wrangler d1 create edgehook\` and put the id it prints there`,
			];
		}
		return [];
	});
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const file = process.argv[2] ?? "wrangler.toml";
	const problems = deployProblems(readFileSync(file, "utf8"), file);
	if (problems.length > 0) {
		for (const problem of problems) console.error(problem);
		console.error("Nothing was deployed.");
		process.exit(1);
	}
	console.log(`${file}: every D1 binding has a database id`);
}
