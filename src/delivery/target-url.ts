export const MAX_URL_LENGTH = 2048;

const BLOCKED_HOSTNAMES = new Set(["localhost", "metadata.google.internal", "metadata", "instance-data"]);

function isIpv4Literal(host: string): boolean {
	return /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

/**
 * Why a URL may not be a webhook target, or null when it may. Development may
 * target anything over http(s), so local receivers work. Production takes
 * https only and refuses loopback, private, link-local and metadata targets;
 * it refuses every IP literal, since Workers cannot fetch raw IP addresses in
 * production anyway.
 */
export function targetUrlProblem(raw: string, environment: string): string | null {
	if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		return "must be an absolute URL";
	}
	if (url.protocol !== "https:" && url.protocol !== "http:") return "must use http or https";
	if (url.username || url.password) return "must not contain credentials";
	if (environment === "development") return null;
	if (url.protocol !== "https:") return "must use https";
	const host = url.hostname.toLowerCase().replace(/\.$/, "");
	if (isIpv4Literal(host) || host.startsWith("[")) return "must use a host name, not an IP address";
	if (
		BLOCKED_HOSTNAMES.has(host) ||
		host.endsWith(".localhost") ||
		host.endsWith(".internal") ||
		host.endsWith(".local")
	) {
		return "must not target a local, private or metadata host";
	}
	if (!host.includes(".")) return "must use a fully qualified host name";
	return null;
}
