// Portal links are bearer tokens valid for up to 7 days: what `npm start`
// prints (wrangler's request lines among it) keeps their path, not their token.
const PORTAL_TOKEN = /\/portal\/[A-Za-z0-9_.%-]+/g;

/** `text` with every portal link's token replaced. */
export function redactPortalTokens(text) {
	return text.replace(PORTAL_TOKEN, "/portal/[token]");
}

/**
 * Copies `from` to `to` line by line, redacted. Lines are whole before they
 * are redacted, so a token split across two chunks of output is still found.
 */
export function pipeRedacted(from, to) {
	let pending = "";
	from.setEncoding("utf8");
	from.on("data", (chunk) => {
		const lines = (pending + chunk).split("\n");
		pending = lines.pop() ?? "";
		if (lines.length > 0) to.write(`${redactPortalTokens(lines.join("\n"))}\n`);
	});
	from.on("end", () => {
		if (pending !== "") to.write(redactPortalTokens(pending));
	});
}
