// The D1 bindings a wrangler.toml declares, in order: DB (the control
// database and first shard) and any SHARD_<n> after it. Every one of them
// gets the migrations. A small reader rather than a TOML library: it only
// needs the `binding` of each [[d1_databases]] table.

/** @param {string} toml */
export function d1Bindings(toml) {
	const bindings = [];
	let inD1Table = false;
	for (const line of toml.split(/\r?\n/)) {
		const header = /^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$/.exec(line);
		if (header) {
			inD1Table = header[1].trim() === "d1_databases" && line.trim().startsWith("[[");
			continue;
		}
		const binding = inD1Table ? /^\s*binding\s*=\s*"([^"]+)"/.exec(line) : null;
		if (binding) bindings.push(binding[1]);
	}
	return bindings;
}
