// Reads and rewrites the parts of a wrangler.toml that a deployment fills in,
// line by line, so that everything else (comments included) passes through
// unchanged. It understands what Edgehook's own file uses: `[table]` and
// `[[array]]` headers and `key = "string"` or `key = 123` lines; a TOML parser
// would be a dependency for the sake of a handful of keys.

const HEADER = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/;

/** The file cut at its table headers: the lines before the first header, then each table with the lines up to the next. */
export function splitTables(text) {
	const preamble = [];
	const tables = [];
	for (const line of text.split("\n")) {
		const header = HEADER.exec(line);
		if (header) {
			tables.push({ name: header[1], header: line, body: [] });
			continue;
		}
		(tables.at(-1)?.body ?? preamble).push(line);
	}
	return { preamble, tables };
}

export function joinTables({ preamble, tables }) {
	return [...preamble, ...tables.flatMap((table) => [table.header, ...table.body])].join("\n");
}

function escapeKey(key) {
	return key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The value of `key = "…"` or `key = 123` among `lines`, as a string; undefined when the key is absent. */
export function readValue(lines, key) {
	const pattern = new RegExp(`^\\s*${escapeKey(key)}\\s*=\\s*(?:"([^"]*)"|(-?\\d+))\\s*(#.*)?$`);
	for (const line of lines) {
		const match = pattern.exec(line);
		if (match) return match[1] ?? match[2];
	}
	return undefined;
}

/** `lines` with `key = "value"` in place of the key's line, or added after the last key when it has none. */
export function writeValue(lines, key, value) {
	const pattern = new RegExp(`^(\\s*)${escapeKey(key)}\\s*=`);
	const line = (indent) => `${indent}${key} = ${JSON.stringify(value)}`;
	const at = lines.findIndex((candidate) => pattern.test(candidate));
	if (at !== -1)
		return lines.map((candidate, index) => (index === at ? line(pattern.exec(candidate)?.[1] ?? "") : candidate));
	const lastKey = lines.findLastIndex(isKeyLine);
	return [...lines.slice(0, lastKey + 1), line(""), ...lines.slice(lastKey + 1)];
}

export function isKeyLine(line) {
	return /^\s*[A-Za-z0-9_."-]+\s*=/.test(line);
}

/** The `[[d1_databases]]` tables: binding, database_name and database_id (undefined when absent). */
export function d1Databases(text) {
	return splitTables(text)
		.tables.filter((table) => table.name === "d1_databases")
		.map((table) => ({
			binding: readValue(table.body, "binding"),
			databaseName: readValue(table.body, "database_name"),
			databaseId: readValue(table.body, "database_id"),
		}));
}

/** The `[[ratelimits]]` tables: name and namespace_id (undefined when absent). */
export function rateLimits(text) {
	return splitTables(text)
		.tables.filter((table) => table.name === "ratelimits")
		.map((table) => ({ name: readValue(table.body, "name"), namespaceId: readValue(table.body, "namespace_id") }));
}

/** Every queue the configuration names (producers, consumers, dead-letter queues), each once, in order of appearance. */
export function queueNames(text) {
	const names = splitTables(text)
		.tables.filter((table) => table.name === "queues.producers" || table.name === "queues.consumers")
		.flatMap((table) => [readValue(table.body, "queue"), readValue(table.body, "dead_letter_queue")]);
	return [...new Set(names.filter((name) => name !== undefined && name !== ""))];
}

/** The Worker's top-level `name`. */
export function workerName(text) {
	return readValue(splitTables(text).preamble, "name");
}
