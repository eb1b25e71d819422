import jsonata from "jsonata";
import { escapeDiscordMarkdown } from "./discord";
import { escapeHtml } from "./email-content";
import { escapeSlack } from "./slack";
import {
	boundedJson,
	guardedBuiltIns,
	guardSize,
	LimitReached,
	MAX_FAILURE_MESSAGE,
	refusedConstruct,
	sizeOf,
} from "./transform-limits";

export { MAX_VALUE_SIZE } from "./transform-limits";

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
/** All the values one run may produce together, measured as MAX_VALUE_SIZE is: what bounds its memory and work. */
export const MAX_PRODUCED_SIZE = 20_000_000;
/** Wall time one run may take. */
export const MAX_EVALUATION_MS = 1000;
/**
 * Deployed Workers move the clock only at I/O, so a long run reads the time
 * after yielding to a timer, this often in steps.
 */
const STEPS_BETWEEN_CLOCK_READS = 1000;
/** Steps that only look a value up, so a string they give back is the input's own, not a new copy. */
const LOOKUPS = new Set<unknown>(["path", "name", "variable"]);

export type TransformOutcome =
	| { kind: "body"; value: unknown; json: string }
	/** The expression produced nothing: this endpoint does not get this event. */
	| { kind: "dropped" }
	| { kind: "error"; message: string };

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

interface JsonataFailure {
	message?: unknown;
	position?: unknown;
	code?: unknown;
}

/** JSONata throws plain objects with a message, a code and a position; this makes one line of them. */
function describeFailure(error: unknown): string {
	let text: string;
	if (error instanceof LimitReached) text = error.message;
	else if (error instanceof RangeError) text = `the expression ran out of room: ${error.message}`;
	else if (typeof error !== "object" || error === null) text = String(error);
	else {
		const failure = error as JsonataFailure;
		const message = typeof failure.message === "string" ? failure.message : "the expression failed";
		const code = typeof failure.code === "string" ? ` [${failure.code}]` : "";
		const position = typeof failure.position === "number" ? ` at position ${failure.position}` : "";
		text = `${message}${code}${position}`;
	}
	// An expression can put any text in its error ($error, or a value quoted by the library).
	return text.length > MAX_FAILURE_MESSAGE ? `${text.slice(0, MAX_FAILURE_MESSAGE - 1)}…` : text;
}

/** Stands in for RegExp at evaluation: a regular expression never runs, even one that slipped past the checks. */
class RefusedRegex {
	constructor() {
		throw new LimitReached("regular expressions are not accepted in transformations");
	}
}

/** The parsed expression, or a LimitReached for a construct it may not use. */
function compile(source: string): jsonata.Expression {
	const expression = jsonata(source, {
		stack: MAX_EVALUATION_DEPTH,
		sequence: MAX_SEQUENCE_LENGTH,
		RegexEngine: RefusedRegex as unknown as RegExpConstructor,
	});
	const refusal = refusedConstruct(expression.ast());
	if (refusal !== null) throw new LimitReached(refusal);
	return expression;
}

/** Why `source` is not a usable expression, or null when it parses and uses nothing refused. */
export function transformationProblem(source: string): string | null {
	if (source.trim() === "") return "must not be empty";
	if (source.length > MAX_TRANSFORMATION_LENGTH) return `must be at most ${MAX_TRANSFORMATION_LENGTH} characters`;
	try {
		compile(source);
		return null;
	} catch (error) {
		return describeFailure(error);
	}
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
	let steps = 0;
	let produced = 0;
	const startedAt = Date.now();
	// Values the input already holds cost nothing to refer to; only what the run makes is charged.
	sizeOf(input);
	const inputStrings = new Set<string>();
	const inputObjects = new WeakSet<object>();
	const collect = (value: unknown, depth: number): void => {
		if (typeof value === "string") inputStrings.add(value);
		else if (typeof value === "object" && value !== null && depth < 1000) {
			inputObjects.add(value);
			for (const child of Object.values(value)) collect(child, depth + 1);
		}
	};
	collect(input, 0);

	const charge = (size: number) => {
		produced += size;
		if (produced > MAX_PRODUCED_SIZE) {
			throw new LimitReached(`the transformation produced more than ${MAX_PRODUCED_SIZE} characters of values`);
		}
	};
	const readClock = async () => {
		await new Promise((resolve) => setTimeout(resolve, 0));
		if (Date.now() - startedAt > maxMs) throw new LimitReached(`the transformation ran for more than ${maxMs} ms`);
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
		(node: unknown, _input: unknown, _environment: unknown, result: unknown) => {
			if (typeof result === "string") {
				// Only a lookup hands back the input's own string; anything else built a new one, equal or not.
				if (LOOKUPS.has((node as { type?: unknown }).type) && inputStrings.has(result)) return;
			} else if (typeof result !== "object" || result === null || inputObjects.has(result)) return;
			const size = sizeOf(result);
			guardSize(size, "a value");
			charge(size);
		},
	);
	for (const [name, replacement] of Object.entries(await guardedBuiltIns(startedAt, charge)))
		expression.assign(name, replacement);
	// Data put into a message by a template is the tenant's to escape for the format it writes.
	for (const [name, escapeText] of Object.entries(ESCAPES)) expression.registerFunction(name, escapeText, "<s-:s>");

	const value: unknown = await expression.evaluate(input);
	if (value === undefined) return { kind: "dropped" };
	const json = boundedJson(value, MAX_OUTPUT_BYTES);
	if (new TextEncoder().encode(json).byteLength > MAX_OUTPUT_BYTES) {
		return { kind: "error", message: `the result is larger than ${MAX_OUTPUT_BYTES} bytes` };
	}
	return { kind: "body", value, json };
}
