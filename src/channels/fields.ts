/** One line of an event's data, as the chat and email layouts show it. */
export interface ImportantField {
	name: string;
	value: string;
}

/** Marks every cut, so a reader knows the text goes on in the delivery's payload. */
export const ELLIPSIS = "…";

/** Maps one code point of data to the text it becomes in the target format. */
export type Escape = (codePoint: string, previous: string | undefined) => string;

const asIs: Escape = (codePoint) => codePoint;

/**
 * Shortens `text` to at most `limit` UTF-16 code units, ending a cut with "…".
 *
 * Lengths are counted in code units because that is the larger of the two
 * counts platforms use ("characters" may mean code points): a text within the
 * limit in code units is within it in code points too. The cut never splits a
 * surrogate pair.
 */
export function truncate(text: string, limit: number): string {
	if (text.length <= limit) return text;
	if (limit < 1) return "";
	let end = limit - 1;
	const last = text.charCodeAt(end - 1);
	if (last >= 0xd800 && last <= 0xdbff) end -= 1;
	return text.slice(0, end) + ELLIPSIS;
}

/**
 * Escapes `text` code point by code point and shortens the result to `limit`
 * code units, like `truncate`. The cut falls between escapes, never inside one
 * (half of `&amp;` would show as text), and the limit is checked on the escaped
 * text because that is what the platform measures. Stops reading once past the
 * limit, so a huge value costs no more than a short one.
 */
export function escapeAndTruncate(text: string, limit: number, escapeCodePoint: Escape = asIs): string {
	if (limit < 1) return "";
	let out = "";
	let fitsWithEllipsis = 0;
	let previous: string | undefined;
	for (const codePoint of text) {
		const piece = escapeCodePoint(codePoint, previous);
		if (out.length + piece.length > limit) return out.slice(0, fitsWithEllipsis) + ELLIPSIS;
		out += piece;
		if (out.length <= limit - 1) fitsWithEllipsis = out.length;
		previous = codePoint;
	}
	return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Strings as they are, lists by their size, anything else as JSON. */
export function describeValue(value: unknown): string {
	if (typeof value === "string") return value;
	if (Array.isArray(value)) return `${value.length} ${value.length === 1 ? "item" : "items"}`;
	try {
		return JSON.stringify(value) ?? String(value);
	} catch {
		// A BigInt or a cycle cannot come out of a parsed payload, but a caller
		// passing one should get text rather than an exception.
		return String(value);
	}
}

interface Entry {
	name: string;
	value: unknown;
}

/**
 * Top-level values that fit on one line come first (scalars, and lists by
 * their size), then each nested object one level down with dotted names. A
 * nested object with no keys still gets a line, so it does not vanish.
 */
function entriesOf(data: unknown): Entry[] {
	if (!isPlainObject(data)) return [{ name: "data", value: data }];
	const flat: Entry[] = [];
	const nested: Entry[] = [];
	for (const [name, value] of Object.entries(data)) {
		if (!isPlainObject(value)) {
			flat.push({ name, value });
			continue;
		}
		const inner = Object.entries(value);
		if (inner.length === 0) nested.push({ name, value });
		for (const [key, innerValue] of inner) nested.push({ name: `${name}.${key}`, value: innerValue });
	}
	return flat.concat(nested);
}

/**
 * The fields of an event's data worth showing in a notification, in payload
 * order, at most `max` of them. When there are more, the last slot says how
 * many were left out instead of dropping them silently.
 */
export function importantFields(data: unknown, max: number): ImportantField[] {
	if (max < 1) return [];
	const entries = entriesOf(data);
	const shown = entries.length <= max ? entries : entries.slice(0, max - 1);
	const fields = shown.map((entry) => ({ name: entry.name, value: describeValue(entry.value) }));
	const hidden = entries.length - shown.length;
	if (hidden > 0) fields.push({ name: ELLIPSIS, value: `${hidden} more fields` });
	return fields;
}
