import jsonata from "jsonata";

/** Longest expression accepted, in characters. */
export const MAX_TRANSFORMATION_LENGTH = 16 * 1024;
/**
 * Evaluation steps one run may take. Workers freeze the clock while code runs
 * without I/O, so a wall-clock timeout would never fire: counting the
 * interpreter's steps bounds the time instead, the same on every machine.
 */
export const MAX_EVALUATION_STEPS = 100_000;
/** Nesting depth of the evaluation, so deep recursion fails cleanly instead of overflowing the stack. */
export const MAX_EVALUATION_DEPTH = 300;
/** Longest sequence an expression may build. */
export const MAX_SEQUENCE_LENGTH = 10_000;
/** Largest body a transformation may produce, as serialized JSON (the event payload's own limit). */
export const MAX_OUTPUT_BYTES = 256 * 1024;

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

/** JSONata throws plain objects with a message, a code and a position; this makes one line of them. */
function describeFailure(error: unknown): string {
	if (typeof error !== "object" || error === null) return String(error);
	const failure = error as JsonataFailure;
	const message = typeof failure.message === "string" ? failure.message : "the expression failed";
	const code = typeof failure.code === "string" ? ` [${failure.code}]` : "";
	const position = typeof failure.position === "number" ? ` at position ${failure.position}` : "";
	return `${message}${code}${position}`;
}

function compile(source: string): jsonata.Expression {
	return jsonata(source, { stack: MAX_EVALUATION_DEPTH, sequence: MAX_SEQUENCE_LENGTH });
}

/** Why `source` is not a usable expression, or null when it parses. */
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
 * a run over its step budget or an oversized result all come back as an
 * error to record, so nothing wrong is ever sent.
 */
export async function runTransformation(source: string, input: unknown): Promise<TransformOutcome> {
	let expression: jsonata.Expression;
	try {
		expression = compile(source);
	} catch (error) {
		return { kind: "error", message: describeFailure(error) };
	}
	let steps = 0;
	// The library calls this hook before every step of the evaluation; throwing from it stops the run.
	expression.assign(Symbol.for("jsonata.__evaluate_entry") as unknown as string, () => {
		steps += 1;
		if (steps > MAX_EVALUATION_STEPS) {
			throw { message: `the transformation took more than ${MAX_EVALUATION_STEPS} evaluation steps`, code: "U1001" };
		}
	});
	let value: unknown;
	try {
		value = await expression.evaluate(input);
	} catch (error) {
		return { kind: "error", message: describeFailure(error) };
	}
	if (value === undefined) return { kind: "dropped" };
	const json = JSON.stringify(value) as string | undefined;
	if (json === undefined) return { kind: "error", message: "the result is not JSON (a function?)" };
	if (new TextEncoder().encode(json).byteLength > MAX_OUTPUT_BYTES) {
		return { kind: "error", message: `the result is larger than ${MAX_OUTPUT_BYTES} bytes` };
	}
	return { kind: "body", value, json };
}
