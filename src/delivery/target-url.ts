export const MAX_URL_LENGTH = 2048;

type AddressKind =
	| "loopback"
	| "private"
	| "link-local"
	| "carrier-grade NAT"
	| "multicast"
	| "unspecified"
	| "reserved"
	| "broadcast"
	| "benchmarking"
	| "documentation"
	| "metadata-service";

interface Ipv4Range {
	base: number;
	bits: number;
}

interface Ipv6Range {
	base: bigint;
	bits: number;
}

/**
 * An IPv4 address in canonical dotted decimal, as a 32-bit unsigned number.
 * Only the canonical form is accepted: the WHATWG URL parser has already turned
 * hex, octal, single-number and short forms (0x7f.1, 2130706433, 127.1) into it,
 * and inside an IPv6 literal the parser itself refuses anything else.
 */
export function parseIpv4(text: string): number | null {
	const parts = text.split(".");
	if (parts.length !== 4) return null;
	let value = 0;
	for (const part of parts) {
		if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
		const octet = Number(part);
		if (octet > 255) return null;
		value = value * 256 + octet;
	}
	return value;
}

function formatIpv4(value: number): string {
	return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
}

function parseIpv6Groups(text: string, mayEndInIpv4: boolean): number[] | null {
	if (text === "") return [];
	const pieces = text.split(":");
	const groups: number[] = [];
	for (const [index, piece] of pieces.entries()) {
		if (mayEndInIpv4 && index === pieces.length - 1 && piece.includes(".")) {
			const ipv4 = parseIpv4(piece);
			if (ipv4 === null) return null;
			groups.push(ipv4 >>> 16, ipv4 & 0xffff);
		} else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
			groups.push(Number.parseInt(piece, 16));
		} else {
			return null;
		}
	}
	return groups;
}

/**
 * An IPv6 address without brackets or zone, as a 128-bit number. Takes `::`
 * compression and a dotted IPv4 tail (::ffff:127.0.0.1), so the range checks
 * do not depend on how a URL implementation chose to serialize the literal.
 */
export function parseIpv6(text: string): bigint | null {
	const halves = text.split("::");
	if (halves.length > 2) return null;
	const [head = "", tail] = halves;
	let groups: number[];
	if (tail === undefined) {
		const all = parseIpv6Groups(head, true);
		if (all === null || all.length !== 8) return null;
		groups = all;
	} else {
		const before = parseIpv6Groups(head, false);
		const after = parseIpv6Groups(tail, true);
		// `::` stands for at least one zero group.
		if (before === null || after === null || before.length + after.length > 7) return null;
		const zeros = Array.from({ length: 8 - before.length - after.length }, () => 0);
		groups = [...before, ...zeros, ...after];
	}
	return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

function ipv4Range(cidr: string): Ipv4Range {
	const [address = "", bits = ""] = cidr.split("/");
	const base = parseIpv4(address);
	if (base === null) throw new Error(`bad IPv4 range ${cidr}`);
	return { base, bits: Number(bits) };
}

function ipv6Range(cidr: string): Ipv6Range {
	const [address = "", bits = ""] = cidr.split("/");
	const base = parseIpv6(address);
	if (base === null) throw new Error(`bad IPv6 range ${cidr}`);
	return { base, bits: Number(bits) };
}

function inIpv4Range(address: number, range: Ipv4Range): boolean {
	// Division rather than `>>>`, which cannot shift by 32 for a /0.
	const size = 2 ** (32 - range.bits);
	return Math.floor(address / size) === Math.floor(range.base / size);
}

function inIpv6Range(address: bigint, range: Ipv6Range): boolean {
	const shift = BigInt(128 - range.bits);
	return address >> shift === range.base >> shift;
}

// First match wins, so single addresses sit before the blocks that contain
// them: the message should name the most specific reason.
const IPV4_SPECIAL: ReadonlyArray<readonly [Ipv4Range, AddressKind]> = [
	[ipv4Range("0.0.0.0/32"), "unspecified"],
	[ipv4Range("0.0.0.0/8"), "reserved"],
	[ipv4Range("10.0.0.0/8"), "private"],
	// Alibaba Cloud's metadata service lives inside the shared CGNAT block.
	[ipv4Range("100.100.100.200/32"), "metadata-service"],
	[ipv4Range("100.64.0.0/10"), "carrier-grade NAT"],
	[ipv4Range("127.0.0.0/8"), "loopback"],
	[ipv4Range("169.254.169.254/32"), "metadata-service"],
	[ipv4Range("169.254.0.0/16"), "link-local"],
	[ipv4Range("172.16.0.0/12"), "private"],
	[ipv4Range("192.0.0.0/24"), "reserved"],
	[ipv4Range("192.0.2.0/24"), "documentation"],
	[ipv4Range("192.88.99.0/24"), "reserved"],
	[ipv4Range("192.168.0.0/16"), "private"],
	[ipv4Range("198.18.0.0/15"), "benchmarking"],
	[ipv4Range("198.51.100.0/24"), "documentation"],
	[ipv4Range("203.0.113.0/24"), "documentation"],
	[ipv4Range("224.0.0.0/4"), "multicast"],
	[ipv4Range("255.255.255.255/32"), "broadcast"],
	[ipv4Range("240.0.0.0/4"), "reserved"],
];

const IPV6_SPECIAL: ReadonlyArray<readonly [Ipv6Range, AddressKind]> = [
	[ipv6Range("::/128"), "unspecified"],
	[ipv6Range("::1/128"), "loopback"],
	// AWS's IPv6 metadata service, inside the unique-local block.
	[ipv6Range("fd00:ec2::254/128"), "metadata-service"],
	[ipv6Range("64:ff9b:1::/48"), "private"],
	[ipv6Range("100::/64"), "reserved"],
	[ipv6Range("2001:2::/48"), "benchmarking"],
	[ipv6Range("2001:db8::/32"), "documentation"],
	[ipv6Range("3fff::/20"), "documentation"],
	[ipv6Range("fc00::/7"), "private"],
	// Site-local was IPv6's first private range; deprecated but still routed privately.
	[ipv6Range("fec0::/10"), "private"],
	[ipv6Range("fe80::/10"), "link-local"],
	[ipv6Range("ff00::/8"), "multicast"],
];

// Only 2000::/3 is allocated for global unicast; everything else outside the
// ranges above is held back by the IETF.
const GLOBAL_UNICAST = ipv6Range("2000::/3");

const IPV4_MAPPED = ipv6Range("::ffff:0:0/96");
const IPV4_COMPATIBLE = ipv6Range("::/96");
const NAT64 = ipv6Range("64:ff9b::/96");
const SIX_TO_FOUR = ipv6Range("2002::/16");
const TEREDO = ipv6Range("2001::/32");

/**
 * The IPv4 address an IPv6 address carries, for the forms that a stack or
 * gateway may turn back into an IPv4 connection; these are how a private IPv4
 * target gets smuggled past a check that only looks at IPv4 literals.
 */
function embeddedIpv4(address: bigint): number | null {
	const low32 = Number(address & 0xffff_ffffn);
	if (inIpv6Range(address, IPV4_MAPPED) || inIpv6Range(address, IPV4_COMPATIBLE) || inIpv6Range(address, NAT64)) {
		return low32;
	}
	if (inIpv6Range(address, SIX_TO_FOUR)) return Number((address >> 80n) & 0xffff_ffffn);
	// Teredo stores the client's IPv4 address with every bit inverted.
	if (inIpv6Range(address, TEREDO)) return ~low32 >>> 0;
	return null;
}

function classifyIpv4(address: number): AddressKind | null {
	return IPV4_SPECIAL.find(([range]) => inIpv4Range(address, range))?.[1] ?? null;
}

function classifyIpv6(address: bigint): { kind: AddressKind; embedded: number | null } | null {
	// :: and ::1 also fall inside the IPv4-compatible block, but are special in their own right.
	const exact = IPV6_SPECIAL.find(([range]) => range.bits === 128 && inIpv6Range(address, range));
	if (exact) return { kind: exact[1], embedded: null };
	const embedded = embeddedIpv4(address);
	if (embedded !== null) {
		const kind = classifyIpv4(embedded);
		return kind === null ? null : { kind, embedded };
	}
	const range = IPV6_SPECIAL.find(([candidate]) => inIpv6Range(address, candidate));
	if (range) return { kind: range[1], embedded: null };
	if (!inIpv6Range(address, GLOBAL_UNICAST)) return { kind: "reserved", embedded: null };
	return null;
}

function addressProblem(kind: AddressKind, shown: string): string {
	const article = /^[aeiou]/.test(kind) ? "an" : "a";
	return `must not target ${article} ${kind} address (${shown})`;
}

const NOT_AN_IP = "must use a host name, not an IP address";

const METADATA_HOSTS = new Set(["metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"]);

// Names that RFC 6761, RFC 8375 or common practice keep inside a local network,
// so a public resolver either refuses them or answers with a private address.
const LOCAL_NETWORK_SUFFIXES = [".local", ".internal", ".home.arpa", ".localdomain"];

function hostProblem(hostname: string): string | null {
	// A trailing dot makes the name absolute without changing where it points.
	const host = hostname.toLowerCase().replace(/\.+$/, "");
	if (host.startsWith("[") && host.endsWith("]")) {
		const literal = host.slice(1, -1);
		const address = parseIpv6(literal);
		const special = address === null ? null : classifyIpv6(address);
		if (special === null) return NOT_AN_IP;
		const shown = special.embedded === null ? literal : `${literal}, which embeds ${formatIpv4(special.embedded)}`;
		return addressProblem(special.kind, shown);
	}
	const ipv4 = parseIpv4(host);
	if (ipv4 !== null) {
		const kind = classifyIpv4(ipv4);
		return kind === null ? NOT_AN_IP : addressProblem(kind, host);
	}
	// A numeric last label only ever means an IPv4 address in some other notation;
	// refuse it in case a URL implementation left such a form unnormalized.
	if (/(^|\.)(\d+|0x[0-9a-f]*)$/.test(host)) return NOT_AN_IP;
	if (METADATA_HOSTS.has(host)) return `must not target a metadata-service host (${hostname})`;
	if (host === "localhost" || host.endsWith(".localhost")) return `must not target a loopback host (${hostname})`;
	if (host === "home.arpa" || LOCAL_NETWORK_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
		return `must not target a local-network host (${hostname})`;
	}
	// A single label is resolved against the resolver's search list, i.e. some local network.
	if (!host.includes(".")) return `must use a fully qualified host name (${hostname})`;
	return null;
}

/**
 * Why a URL may not be a webhook target, or null when it may. The answer reads
 * after the field name ("url must be an https URL").
 *
 * Development may target anything over http(s), so local receivers work.
 * Elsewhere the service runs with the network access of the deployment, so a
 * target must not reach loopback, private, link-local, metadata or otherwise
 * special addresses. Every IP literal is refused there, since Workers cannot
 * fetch raw IP addresses in production, but the special ranges are named first
 * so the message gives the real reason.
 *
 * Only the URL is checked: a public name that resolves to a private address
 * must be caught by the platform's egress rules.
 */
export function targetUrlProblem(raw: string, environment: string): string | null {
	if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		return "must be an absolute URL";
	}
	const development = environment === "development";
	if (url.protocol !== "https:" && url.protocol !== "http:") {
		return development ? "must be an http or https URL" : "must be an https URL";
	}
	// Also what defeats https://good.com@127.0.0.1, whose host is the part after the @.
	if (url.username !== "" || url.password !== "") return "must not contain a user name or password";
	if (development) return null;
	if (url.protocol !== "https:") return "must be an https URL";
	return hostProblem(url.hostname);
}

/** How many characters of a masked URL's path and query stay visible, to tell endpoints apart. */
const MASK_TAIL_LENGTH = 4;
/** The tail is shown only when at least this many characters stay hidden in front of it. */
const MASK_HIDDEN_AT_LEAST = 12;
/** A URL this function has already masked, which masking again must leave as it is. */
const ALREADY_MASKED = /^https?:\/\/[^/?#@\s]+\/…[^/?#\s]{0,4}$/u;

/**
 * A target URL as shown to whoever may not see credentials (a read-only
 * portal, the operational events sent to other endpoints): its scheme and
 * host, then `…` and the last few characters of the rest.
 *
 * Slack and Discord webhook URLs carry their token in the path, and many
 * receivers take one in the query or the user name, so anything after the
 * host is a bearer credential as far as this can tell: only the host, which
 * says where deliveries go, is kept whole.
 */
export function maskTargetUrl(raw: string): string {
	if (ALREADY_MASKED.test(raw)) return raw;
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		return "…";
	}
	if (url.protocol !== "https:" && url.protocol !== "http:") return "…";
	const origin = `${url.protocol}//${url.host}/`;
	const rest = `${url.pathname}${url.search}${url.hash}`;
	if (rest === "/" && url.username === "" && url.password === "") return origin;
	const tail = rest.length >= MASK_HIDDEN_AT_LEAST + MASK_TAIL_LENGTH ? rest.slice(-MASK_TAIL_LENGTH) : "";
	return `${origin}…${tail}`;
}
