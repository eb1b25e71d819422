import jsonata from "jsonata";
import { escapeDiscordMarkdown } from "./discord";
import { escapeHtml } from "./email-content";
import { escapeSlack } from "./slack";

/** Longest expression accepted, in characters. */
export const MAX_TRANSFORMATION_LENGTH = 16 * 1024;
/** Evaluation steps one run may take. */
export const MAX_EVALUATION_STEPS = 100_000;
/** Nesting depth of the evaluation, so deep recursion fails cleanly instead of overflowing the stack. */
export const MAX_EVALUATION_DEPTH = 300;
/** Longest sequence an expression may build. */
export const MAX_SEQUENCE_LENGTH = 10_000;
/** Largest body a transformation may produce, as serialized JSON (the event payload's own limit). */
export const MAX_OUTPUT_BYTES = 256 * 1024;
/**
 * Largest value any one step may produce, in characters of its JSON form
 * (counting shared parts as often as they would be written out).
 */
export const MAX_VALUE_SIZE = 1_000_000;
/** All the values one run may produce together, in the same measure: what bounds its memory and work. */
export const MAX_PRODUCED_SIZE = 20_000_000;
/** Wall time one run may take. */
export const MAX_EVALUATION_MS = 1000;
/**
 * Deployed Workers move the clock only at I/O, so a long run reads the time
 * after yielding to a timer, this often in steps.
 */
const STEPS_BETWEEN_CLOCK_READS = 1000;

export type TransformOutcome =
	| { kind: "body"; value: unknown; json: string }
	/** The expression produced nothing: this endpoint does not get this event. */
	| { kind: "dropped" }
	| { kind: "error"; message: string };

interface JsonataFailure {
	message?: unknown;
	position?: unknown;
	code?: unknown;
}

/** A limit reached: thrown from the library's hooks, which stops the run with this message. */
class LimitReached {
	readonly code = "EDGEHOOK_LIMIT";
	constructor(readonly message: string) {}
}

/** JSONata throws plain objects with a message, a code and a position; this makes one line of them. */
function describeFailure(error: unknown): string {
	if (error instanceof LimitReached) return error.message;
	if (error instanceof RangeError) return `the expression ran out of room: ${error.message}`;
	if (typeof error !== "object" || error === null) return String(error);
	const failure = error as JsonataFailure;
	const message = typeof failure.message === "string" ? failure.message : "the expression failed";
	const code = typeof failure.code === "string" ? ` [${failure.code}]` : "";
	const position = typeof failure.position === "number" ? ` at position ${failure.position}` : "";
	return `${message}${code}${position}`;
}

const REGEX_REFUSED =
	"regular expressions are not accepted in transformations: some take exponential time on short input";

/** Stands in for RegExp at evaluation: a regex literal never runs, even one that slipped past the save check. */
class RefusedRegex {
	constructor() {
		throw new LimitReached(REGEX_REFUSED);
	}
}

function compile(source: string): jsonata.Expression {
	return jsonata(source, {
		stack: MAX_EVALUATION_DEPTH,
		sequence: MAX_SEQUENCE_LENGTH,
		RegexEngine: RefusedRegex as unknown as RegExpConstructor,
	});
}

/** Whether the parsed expression holds a regular expression literal anywhere. */
function holdsRegex(node: unknown, depth = 0): boolean {
	if (depth > 10_000 || typeof node !== "object" || node === null) return false;
	if (node instanceof RegExp) return true;
	if (!Array.isArray(node) && (node as { type?: unknown }).type === "regex") return true;
	return Object.values(node).some((child) => holdsRegex(child, depth + 1));
}

/** Why `source` is not a usable expression, or null when it parses. */
export function transformationProblem(source: string): string | null {
	if (source.trim() === "") return "must not be empty";
	if (source.length > MAX_TRANSFORMATION_LENGTH) return `must be at most ${MAX_TRANSFORMATION_LENGTH} characters`;
	try {
		return holdsRegex(compile(source).ast()) ? REGEX_REFUSED : null;
	} catch (error) {
		return describeFailure(error);
	}
}

/**
 * Functions a transformation may call beyond JSONata's own: escapes for the
 * formats a message is written in, so event data cannot mention @channel in
 * Slack, ping in Discord or add markup to an email.
 */
export const ESCAPES: Record<string, (text: string) => string> = {
	escapeHtml,
	escapeSlack,
	escapeMarkdown: escapeDiscordMarkdown,
};

/** A built-in function as the library keeps it: its implementation and its parsed signature. */
interface BuiltIn {
	implementation: (this: unknown, ...args: unknown[]) => unknown;
	signature: unknown;
}

async function builtIn(name: string): Promise<BuiltIn> {
	return (await jsonata(`$${name}`).evaluate(undefined)) as BuiltIn;
}

/** The built-ins whose one call can make a value far larger, or take far longer, than its arguments. */
const originals = Promise.all([builtIn("pad"), builtIn("join"), builtIn("replace"), builtIn("distinct")]);

const sizes = new WeakMap<object, number>();

/**
 * The size of a value in characters of its JSON form, give or take, with
 * shared parts counted every time they appear. Objects are remembered, so
 * a value built from earlier ones costs only its own parts.
 */
function sizeOf(value: unknown, depth = 0): number {
	if (typeof value === "string") return value.length + 2;
	if (typeof value !== "object" || value === null) return 8;
	// A function's closure holds the evaluation's frames, which refer back to it: it is not data.
	if ("_jsonata_lambda" in value || "_jsonata_function" in value) return 8;
	const known = sizes.get(value);
	if (known !== undefined) return known;
	if (depth > MAX_EVALUATION_DEPTH) return MAX_VALUE_SIZE + 1;
	let total = 2;
	for (const [key, child] of Object.entries(value)) {
		total += key.length + 4 + sizeOf(child, depth + 1);
		// Past the limit there is no need to know by how much.
		if (total > MAX_VALUE_SIZE) break;
	}
	sizes.set(value, total);
	return total;
}

function occurrences(text: string, pattern: string, limit: number): number {
	if (pattern === "") return 0;
	let found = 0;
	for (let at = text.indexOf(pattern); at !== -1 && found < limit; at = text.indexOf(pattern, at + pattern.length)) {
		found += 1;
	}
	return found;
}

function guardSize(size: number, what: string): void {
	if (size > MAX_VALUE_SIZE) throw new LimitReached(`${what} would be larger than ${MAX_VALUE_SIZE} characters`);
}

/**
 * Runs `source` over `input`. Never throws: a syntax error, a runtime error,
 * a run past any of its limits or an oversized result all come back as an
 * error to record, so nothing wrong is ever sent.
 */
export async function runTransformation(
	source: string,
	input: unknown,
	maxMs = MAX_EVALUATION_MS,
): Promise<TransformOutcome> {
	try {
		return await evaluateBounded(source, input, maxMs);
	} catch (error) {
		return { kind: "error", message: describeFailure(error) };
	}
}

async function evaluateBounded(source: string, input: unknown, maxMs: number): Promise<TransformOutcome> {
	const expression = compile(source);
	const [pad, join, replace, distinct] = await originals;
	let steps = 0;
	let produced = 0;
	const startedAt = Date.now();
	const charge = (size: number) => {
		produced += size;
		if (produced > MAX_PRODUCED_SIZE) {
			throw new LimitReached(`the transformation produced more than ${MAX_PRODUCED_SIZE} characters of values`);
		}
	};
	// Values the input already holds cost nothing to refer to; only what the run makes is charged.
	sizeOf(input);
	const inputStrings = new Set<string>();
	const collectStrings = (value: unknown, depth: number): void => {
		if (typeof value === "string") inputStrings.add(value);
		else if (typeof value === "object" && value !== null && depth < MAX_EVALUATION_DEPTH) {
			for (const child of Object.values(value)) collectStrings(child, depth + 1);
		}
	};
	collectStrings(input, 0);
	const inputObjects = new WeakSet<object>();
	const markInput = (value: unknown, depth: number): void => {
		if (typeof value !== "object" || value === null || depth >= MAX_EVALUATION_DEPTH) return;
		inputObjects.add(value);
		for (const child of Object.values(value)) markInput(child, depth + 1);
	};
	markInput(input, 0);

	// The library calls these hooks around every step of the evaluation; throwing from one stops the run.
	const readClock = async () => {
		await new Promise((resolve) => setTimeout(resolve, 0));
		if (Date.now() - startedAt > maxMs) {
			throw new LimitReached(`the transformation ran for more than ${maxMs} ms`);
		}
	};
	// The library calls these hooks around every step of the evaluation; throwing from one stops the run.
	// Only every thousandth step returns a promise: awaiting one on every step costs time and stack.
	expression.assign(Symbol.for("jsonata.__evaluate_entry") as unknown as string, () => {
		steps += 1;
		if (steps > MAX_EVALUATION_STEPS) {
			throw new LimitReached(`the transformation took more than ${MAX_EVALUATION_STEPS} evaluation steps`);
		}
		return steps % STEPS_BETWEEN_CLOCK_READS === 0 ? readClock() : undefined;
	});
	expression.assign(
		Symbol.for("jsonata.__evaluate_exit") as unknown as string,
		(_node: unknown, _input: unknown, _environment: unknown, result: unknown) => {
			if (typeof result !== "string" && (typeof result !== "object" || result === null)) return;
			if (typeof result === "object" && inputObjects.has(result)) return;
			const size = sizeOf(result);
			guardSize(size, "a value");
			if (!(typeof result === "string" && inputStrings.has(result))) charge(size);
		},
	);
	// Bounded stand-ins for the built-ins that can grow a value or take quadratic time in a single step.
	expression.assign("pad", {
		...pad,
		implementation(this: unknown, text: unknown, width: unknown, ...rest: unknown[]) {
			if (typeof width === "number") guardSize(Math.abs(width), "$pad's result");
			return pad.implementation.call(this, text, width, ...rest);
		},
	});
	expression.assign("join", {
		...join,
		implementation(this: unknown, strings: unknown, separator: unknown, ...rest: unknown[]) {
			const parts = Array.isArray(strings) ? strings : [strings];
			const separatorLength = typeof separator === "string" ? separator.length : 0;
			guardSize(
				parts.reduce((total: number, part) => total + sizeOf(part) + separatorLength, 0),
				"$join's result",
			);
			return join.implementation.call(this, strings, separator, ...rest);
		},
	});
	expression.assign("replace", {
		...replace,
		implementation(
			this: unknown,
			text: unknown,
			pattern: unknown,
			replacement: unknown,
			limit: unknown,
			...rest: unknown[]
		) {
			if (typeof text === "string" && typeof pattern === "string" && typeof replacement === "string") {
				const most = typeof limit === "number" ? limit : Number.POSITIVE_INFINITY;
				guardSize(text.length + occurrences(text, pattern, most) * replacement.length, "$replace's result");
			}
			return replace.implementation.call(this, text, pattern, replacement, limit, ...rest);
		},
	});
	expression.assign("distinct", {
		...distinct,
		implementation(this: unknown, values: unknown, ...rest: unknown[]) {
			// It compares every pair: its work grows with the square of the sequence.
			if (Array.isArray(values)) charge((values.length * values.length) / 10);
			return distinct.implementation.call(this, values, ...rest);
		},
	});

	// Data put into a message by a template is the tenant's to escape for the format it writes.
	for (const [name, escapeText] of Object.entries(ESCAPES)) expression.registerFunction(name, escapeText, "<s-:s>");

	const value: unknown = await expression.evaluate(input);
	if (value === undefined) return { kind: "dropped" };
	const json = JSON.stringify(value) as string | undefined;
	if (json === undefined) return { kind: "error", message: "the result is not JSON (a function?)" };
	if (json.length > MAX_OUTPUT_BYTES || new TextEncoder().encode(json).byteLength > MAX_OUTPUT_BYTES) {
		return { kind: "error", message: `the result is larger than ${MAX_OUTPUT_BYTES} bytes` };
	}
	return { kind: "body", value, json };
}
