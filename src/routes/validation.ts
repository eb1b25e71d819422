import type { z } from "@hono/zod-openapi";
import { endpointUrlProblem, isChannel } from "../channels/targets";
import { transformationProblem } from "../channels/transform";
import { ApiError } from "../lib/errors";

/** One problem with a request, named by the path of the field it is about. */
export interface FieldProblem {
	field: string;
	message: string;
}

type Issue = z.core.$ZodIssue;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
	let value = input;
	for (const key of path) {
		if (typeof value !== "object" || value === null) return undefined;
		value = (value as Record<PropertyKey, unknown>)[key];
	}
	return value;
}

const TYPE_WORDS: Record<string, string> = {
	string: "must be a string",
	number: "must be a number",
	int: "must be an integer",
	boolean: "must be true or false",
	object: "must be an object",
	record: "must be an object",
	array: "must be an array",
};

/** Zod's own messages start like this; a message set in a schema is already plain words and is kept. */
const ZOD_DEFAULT_MESSAGE = /^(Invalid|Too (small|big)|Unrecognized key)/;

function sizeWords(issue: Issue & { code: "too_small" | "too_big" }): string {
	const bound = Number(issue.code === "too_small" ? issue.minimum : issue.maximum);
	const least = issue.code === "too_small" ? "at least" : "at most";
	switch (issue.origin) {
		case "string":
			return bound === 1 && issue.code === "too_small" ? "must not be empty" : `must be ${least} ${bound} characters`;
		case "array":
		case "set":
			return `must have ${least} ${bound} item${bound === 1 ? "" : "s"}`;
		default:
			return `must be ${least} ${bound}`;
	}
}

function plainWords(issue: Issue, input: unknown): string {
	if (!ZOD_DEFAULT_MESSAGE.test(issue.message)) return issue.message;
	switch (issue.code) {
		case "invalid_type":
			return valueAt(input, issue.path) === undefined
				? "is required"
				: (TYPE_WORDS[issue.expected] ?? `must be of type ${issue.expected}`);
		case "too_small":
		case "too_big":
			return sizeWords(issue);
		case "invalid_value":
			return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(", ")}`;
		case "invalid_format":
			return "has an invalid format";
		default:
			return "is not valid";
	}
}

function fieldName(path: readonly PropertyKey[]): string {
	return path.map(String).join(".");
}

/** zod's own bounds on integers; they say nothing a user needs when the field has its own range. */
function isSafeIntegerBound(issue: Issue): boolean {
	if (issue.code !== "too_small" && issue.code !== "too_big") return false;
	const bound = Number(issue.code === "too_small" ? issue.minimum : issue.maximum);
	return Math.abs(bound) === Number.MAX_SAFE_INTEGER;
}

/** What a problem with a whole part of the request is named after: the user's word for it, not the validator's. */
const TARGET_NAMES: Record<string, string> = { json: "body", query: "query", param: "path" };

/** Every problem zod found, one per field, each in plain words; an unknown field is named as such. */
export function describeIssues(issues: readonly Issue[], input: unknown, target: string): FieldProblem[] {
	const relevant = issues.filter(
		(issue) =>
			!isSafeIntegerBound(issue) ||
			!issues.some((other) => other !== issue && fieldName(other.path) === fieldName(issue.path)),
	);
	return relevant.flatMap((issue) => {
		if (issue.code === "unrecognized_keys") {
			return issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), message: `unknown field "${key}"` }));
		}
		return [{ field: fieldName(issue.path) || (TARGET_NAMES[target] ?? target), message: plainWords(issue, input) }];
	});
}

/**
 * Rules beyond the schema: which target URLs and chat webhook hosts
 * ENVIRONMENT allows, and whether a transformation parses. Routes check them
 * once the schema passes; when it fails, the validation hook adds them, so
 * one answer lists every problem.
 */
export function deploymentProblems(
	input: unknown,
	environment: string,
	known: readonly FieldProblem[],
): FieldProblem[] {
	const problems: FieldProblem[] = [];
	const named = (field: string) => known.some((problem) => problem.field === field);
	const url = valueAt(input, ["url"]);
	if (typeof url === "string" && !named("url")) {
		const channel = valueAt(input, ["channel"]);
		const problem = endpointUrlProblem(isChannel(channel) ? channel : "webhook", url, environment);
		if (problem !== null) problems.push({ field: "url", message: problem });
	}
	const transformation = valueAt(input, ["transformation"]);
	if (typeof transformation === "string" && !named("transformation")) {
		const problem = transformationProblem(transformation);
		if (problem !== null) problems.push({ field: "transformation", message: problem });
	}
	return problems;
}

/** The one-line summary of a validation error's details. */
export function summarize(problems: readonly FieldProblem[]): string {
	return problems
		.map((problem) =>
			problem.message.startsWith("unknown field") ? problem.message : `${problem.field}: ${problem.message}`,
		)
		.join("; ");
}

/** The 422 for a list of problems: each in `details`, all of them in the message. */
export function validationFailed(problems: readonly FieldProblem[]): ApiError {
	return new ApiError("validation_failed", `the request is not valid: ${summarize(problems)}`, problems);
}
