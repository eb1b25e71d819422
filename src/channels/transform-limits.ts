import jsonata from "jsonata";

/**
 * Largest value any one step may produce, in characters of its JSON form
 * (counting shared parts as often as they would be written out).
 */
export const MAX_VALUE_SIZE = 1_000_000;
/** Longest picture a formatting function takes; longer ones cost quadratic time to parse. */
export const MAX_PICTURE_LENGTH = 64;
/** Longest error message kept from a failed run: it is stored with the attempt. */
export const MAX_FAILURE_MESSAGE = 1000;

/** A limit reached: thrown from the library's hooks or a guarded built-in, which stops the run with this message. */
export class LimitReached {
	readonly code = "EDGEHOOK_LIMIT";
	constructor(readonly message: string) {}
}

/**
 * What no expression may use, found in its parsed form before it runs:
 * each one makes the library build a native regular expression from the
 * expression's text (which can take exponential time), evaluate text as
 * code (which escapes these checks), or change objects after they were
 * measured.
 */
export function refusedConstruct(ast: unknown): string | null {
	const found = findRefused(ast, 0);
	if (found === "regex") {
		return "regular expressions are not accepted in transformations: some take exponential time on short input";
	}
	if (found === "signature") return "function signatures (<…>) are not accepted in transformations";
	if (found === "transform") {
		return "the transform operator (| … |) is not accepted in transformations: build the new object instead";
	}
	return null;
}

function findRefused(node: unknown, depth: number): "regex" | "signature" | "transform" | null {
	if (typeof node !== "object" || node === null) return null;
	// The parser nests no deeper than the expression is long; this only stops a cycle.
	if (depth > 20_000) return null;
	if (node instanceof RegExp) return "regex";
	if (!Array.isArray(node)) {
		const { type } = node as { type?: unknown };
		if (type === "regex") return "regex";
		if (type === "transform") return "transform";
		if (type === "lambda" && (node as { signature?: unknown }).signature !== undefined) return "signature";
	}
	for (const child of Object.values(node)) {
		const found = findRefused(child, depth + 1);
		if (found !== null) return found;
	}
	return null;
}

const sizes = new WeakMap<object, number>();

function isFunction(value: object): boolean {
	return "_jsonata_lambda" in value || "_jsonata_function" in value;
}

/**
 * The size of a value in characters of its JSON form, give or take, with
 * shared parts counted every time they appear. Objects are remembered, so
 * a value built from earlier ones costs only its own parts; no construct
 * an expression may use changes an object once made.
 */
export function sizeOf(value: unknown, depth = 0): number {
	if (typeof value === "string") return value.length + 2;
	if (typeof value !== "object" || value === null) return 8;
	// A function's closure holds the evaluation's frames, which refer back to it: it is not data.
	if (isFunction(value)) return 8;
	const known = sizes.get(value);
	if (known !== undefined) return known;
	if (depth > 1000) return MAX_VALUE_SIZE + 1;
	let total = 2;
	if (Array.isArray(value)) {
		// Read by index: listing a long array's entries first would itself take memory in proportion.
		if (value.length * 2 > MAX_VALUE_SIZE) total = MAX_VALUE_SIZE + 1;
		for (let index = 0; index < value.length && total <= MAX_VALUE_SIZE; index++) {
			total += 1 + sizeOf(value[index], depth + 1);
		}
	} else {
		for (const [key, child] of Object.entries(value)) {
			total += key.length + 4 + sizeOf(child, depth + 1);
			// Past the limit there is no need to know by how much.
			if (total > MAX_VALUE_SIZE) break;
		}
	}
	sizes.set(value, total);
	return total;
}

export function guardSize(size: number, what: string): void {
	if (size > MAX_VALUE_SIZE) throw new LimitReached(`${what} would be larger than ${MAX_VALUE_SIZE} characters`);
}

/**
 * JSON.stringify's output for a value made of JSON data, built piece by
 * piece so that it stops as soon as it passes `maxLength` characters (so
 * also bytes), however often shared parts repeat. A function in the value
 * is an error, as it has no JSON form here.
 */
export function boundedJson(value: unknown, maxLength: number): string {
	const pieces: string[] = [];
	let length = 0;
	const put = (piece: string) => {
		length += piece.length;
		if (length > maxLength) throw new LimitReached(`the result is larger than ${maxLength} bytes`);
		pieces.push(piece);
	};
	const write = (item: unknown, depth: number): void => {
		if (depth > 1000) throw new LimitReached("the result is nested too deeply");
		if (item === null || typeof item !== "object") {
			if (typeof item === "function") throw new LimitReached("the result is not JSON (a function?)");
			put(JSON.stringify(item) ?? "null");
			return;
		}
		if (isFunction(item)) throw new LimitReached("the result is not JSON (a function?)");
		if (Array.isArray(item)) {
			put("[");
			item.forEach((element: unknown, index) => {
				if (index > 0) put(",");
				if (element === undefined) put("null");
				else write(element, depth + 1);
			});
			put("]");
			return;
		}
		put("{");
		let first = true;
		for (const [key, child] of Object.entries(item)) {
			if (child === undefined) continue;
			put(`${first ? "" : ","}${JSON.stringify(key)}:`);
			write(child, depth + 1);
			first = false;
		}
		put("}");
	};
	write(value, 0);
	return pieces.join("");
}

/** A key that two values share exactly when the library's deep equality holds between them. */
function canonicalKey(value: unknown): string {
	if (value === null || typeof value !== "object") return `${typeof value}:${JSON.stringify(value) ?? ""}`;
	if (Array.isArray(value)) return `[${value.map(canonicalKey).join(",")}]`;
	const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
	return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonicalKey(child)}`).join(",")}}`;
}

/** A built-in function as the library keeps it: its implementation and its parsed signature. */
interface BuiltIn {
	_jsonata_function: true;
	implementation: (this: unknown, ...args: unknown[]) => unknown;
	signature: unknown;
}

async function builtIn(name: string): Promise<BuiltIn> {
	return (await jsonata(`$${name}`).evaluate(undefined)) as BuiltIn;
}

/** Names of the built-ins replaced below, each read once from the library. */
const GUARDED = [
	"sort",
	"spread",
	"length",
	"substring",
	"contains",
	"pad",
	"join",
	"replace",
	"distinct",
	"string",
	"formatNumber",
	"formatInteger",
	"fromMillis",
	"toMillis",
	"now",
];
const originals = Promise.all(GUARDED.map(async (name) => [name, await builtIn(name)] as const)).then(
	(pairs) => new Map(pairs),
);

/** The library's own function, for a guard to call once its arguments passed. */
function original(table: ReadonlyMap<string, BuiltIn>, name: string): BuiltIn {
	const found = table.get(name);
	if (found === undefined) throw new Error(`jsonata has no $${name}`);
	return found;
}

function occurrences(text: string, pattern: string, limit: number): number {
	if (pattern === "") return 0;
	let found = 0;
	for (let at = text.indexOf(pattern); at !== -1 && found < limit; at = text.indexOf(pattern, at + pattern.length)) {
		found += 1;
	}
	return found;
}

function guardPicture(picture: unknown, name: string): void {
	if (typeof picture === "string" && picture.length > MAX_PICTURE_LENGTH) {
		throw new LimitReached(`$${name}'s picture may be at most ${MAX_PICTURE_LENGTH} characters`);
	}
}

/**
 * A date picture's markers may end in a width (`[D,2]`, `[Y,4-6]`): the
 * library pads to it digit by digit, in quadratic time with grouping, so
 * a short picture could still ask for a million digits. The library reads
 * a marker without its spaces, and so does this check.
 */
function guardDatePicture(picture: unknown, name: string): void {
	guardPicture(picture, name);
	if (typeof picture !== "string") return;
	for (const marker of picture.replace(/\s+/g, "").split("[").slice(1)) {
		const body = marker.split("]")[0] ?? "";
		const comma = body.lastIndexOf(",");
		if (comma === -1) continue;
		for (const width of body.slice(comma + 1).split(/[^0-9]+/)) {
			if (width !== "" && Number(width) > MAX_PICTURE_LENGTH) {
				throw new LimitReached(`$${name}'s widths may be at most ${MAX_PICTURE_LENGTH}`);
			}
		}
	}
}

/** Most items `$sort` orders with a comparator: the library's merge copies its halves at every element. */
export const MAX_COMPARATOR_SORT = 2000;

/** A plain function: the library calls it without checking arguments first, so the refusal is what the caller sees. */
function refused(name: string, why: string): () => never {
	return () => {
		throw new LimitReached(`$${name} is not accepted in transformations: ${why}`);
	};
}

/**
 * Stand-ins for the built-ins whose single call could make a value far
 * larger, or take far longer, than its arguments: each checks its
 * arguments and then calls the library's own, or is refused outright.
 * `charge` counts work that leaves no large value behind against the run's
 * budget, as the values a run makes are counted.
 */
export async function guardedBuiltIns(
	startedAtMs: number,
	charge: (size: number) => void,
): Promise<Record<string, BuiltIn | (() => never)>> {
	const table = await originals;
	const wrap = (name: string, check: (args: unknown[]) => void): BuiltIn => {
		const base = original(table, name);
		return {
			...base,
			implementation(this: unknown, ...args: unknown[]) {
				check(args);
				return base.implementation.apply(this, args);
			},
		};
	};
	// These walk the whole string (the library splits it into characters) to answer something small.
	const chargeText = ([text]: unknown[]) => {
		if (typeof text === "string") charge(text.length);
	};
	return {
		length: wrap("length", chargeText),
		substring: wrap("substring", chargeText),
		contains: wrap("contains", chargeText),
		pad: wrap("pad", ([text, width, padding]) => {
			chargeText([text]);
			if (typeof width !== "number") return;
			// The library builds the padding from `width` copies of the pad string before cutting it.
			const copies = Math.abs(width) * Math.max(1, typeof padding === "string" ? padding.length : 1);
			guardSize(copies, "$pad's padding");
		}),
		join: wrap("join", ([strings, separator]) => {
			const parts = Array.isArray(strings) ? strings : [strings];
			const separatorLength = typeof separator === "string" ? separator.length : 0;
			guardSize(
				parts.reduce((total: number, part) => total + sizeOf(part) + separatorLength, 0),
				"$join's result",
			);
		}),
		replace: wrap("replace", ([text, pattern, replacement, limit]) => {
			if (typeof text === "string" && typeof pattern === "string" && typeof replacement === "string") {
				const most = typeof limit === "number" ? limit : Number.POSITIVE_INFINITY;
				guardSize(text.length + occurrences(text, pattern, most) * replacement.length, "$replace's result");
			}
		}),
		string: wrap("string", ([value, prettify]) => {
			// Indentation can make the pretty form many times the compact one.
			guardSize(sizeOf(value) * (prettify === true ? 8 : 1), "$string's result");
		}),
		formatNumber: wrap("formatNumber", ([, picture]) => guardPicture(picture, "formatNumber")),
		formatInteger: wrap("formatInteger", ([, picture]) => guardPicture(picture, "formatInteger")),
		fromMillis: wrap("fromMillis", ([, picture]) => guardDatePicture(picture, "fromMillis")),
		now: {
			// The library binds $now to each expression's own start time, so this one takes the run's.
			...original(table, "now"),
			implementation(this: unknown, picture: unknown, timezone: unknown) {
				guardDatePicture(picture, "now");
				return original(table, "fromMillis").implementation.call(this, startedAtMs, picture, timezone);
			},
		},
		distinct: {
			...original(table, "distinct"),
			// The library compares every pair deeply; one key per value makes it linear.
			implementation(this: unknown, values: unknown) {
				if (!Array.isArray(values) || values.length <= 1) return values;
				const context = this as { createSequence?: () => unknown[] };
				const isSequence = (values as { sequence?: unknown }).sequence === true;
				const results = isSequence && typeof context.createSequence === "function" ? context.createSequence() : [];
				const seen = new Set<string>();
				for (const value of values) {
					const key = canonicalKey(value);
					if (seen.has(key)) continue;
					seen.add(key);
					results.push(value);
				}
				return results;
			},
		},
		sort: {
			...original(table, "sort"),
			implementation(this: unknown, values: unknown, comparator: unknown) {
				if (!Array.isArray(values) || values.length <= 1) return values;
				if (comparator !== undefined) {
					if (values.length > MAX_COMPARATOR_SORT) {
						throw new LimitReached(`$sort with a comparator takes at most ${MAX_COMPARATOR_SORT} items`);
					}
					return original(table, "sort").implementation.call(this, values, comparator);
				}
				// The library's own merge holds a copy per element, quadratic in memory; the engine's sort is stable too.
				const numbers = values.every((value) => typeof value === "number");
				if (!numbers && !values.every((value) => typeof value === "string")) {
					throw new LimitReached("$sort without a comparator takes only numbers or only strings");
				}
				charge(values.length * Math.ceil(Math.log2(values.length)));
				return [...(values as (number | string)[])].sort((a, b) => (a > b ? 1 : a < b ? -1 : 0));
			},
		},
		spread: {
			...original(table, "spread"),
			// The library appends by copying the whole result for each item: quadratic for a long array.
			implementation(this: unknown, value: unknown) {
				if (typeof value !== "object" || value === null || isFunction(value)) return value;
				const context = this as { createSequence?: () => unknown[] };
				const results = typeof context.createSequence === "function" ? context.createSequence() : [];
				const spreadInto = (item: unknown, depth: number): void => {
					charge(1);
					if (depth > 1000) throw new LimitReached("$spread's value is nested too deeply");
					if (Array.isArray(item)) {
						for (const element of item) spreadInto(element, depth + 1);
					} else if (typeof item === "object" && item !== null && !isFunction(item)) {
						for (const key of Object.keys(item)) {
							const single: Record<string, unknown> = Object.create(null);
							single[key] = (item as Record<string, unknown>)[key];
							results.push(single);
						}
					} else if (item !== undefined) results.push(item);
				};
				spreadInto(value, 0);
				return results;
			},
		},
		// Each builds a native regular expression from its picture or text.
		toMillis: wrap("toMillis", ([, picture]) => {
			if (picture !== undefined) {
				throw new LimitReached("$toMillis takes ISO 8601 text only in transformations, without a picture");
			}
		}),
		parseInteger: refused("parseInteger", "it builds a regular expression from its picture"),
		match: refused("match", "it needs a regular expression"),
		// It would run text as an expression, past the checks made on the saved one.
		eval: refused("eval", "it would run text as an expression"),
	};
}
