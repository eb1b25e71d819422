import type { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, nestingDepthExceeds } from "../../src/app";
import { deploymentProblems, describeIssues, summarize } from "../../src/routes/validation";
import { EndpointIn } from "../../src/routes/webhooks/schemas";

function problemsOf(schema: z.ZodType, input: unknown) {
	const result = schema.safeParse(input);
	if (result.success) throw new Error("expected the input to be refused");
	return describeIssues(result.error.issues, input, "json");
}

describe("validation messages", () => {
	it("names an unknown field as such, by its path", () => {
		const problems = problemsOf(EndpointIn, { url: "https://example.com/h", events: ["a"], format: "xml" });
		expect(problems).toEqual([{ field: "format", message: 'unknown field "format"' }]);
		expect(summarize(problems)).toBe('unknown field "format"');
	});

	it("reports every problem at once, in plain words", () => {
		const input = { url: 42, events: [], timeout_ms: 1.5, active: "yes", metadata: { a: 1 } };
		const problems = problemsOf(EndpointIn, input);
		expect(problems).toEqual(
			expect.arrayContaining([
				{ field: "url", message: "must be a string" },
				{ field: "events", message: "must name at least one event type (or * for every type)" },
				{ field: "timeout_ms", message: "must be an integer" },
				{ field: "active", message: "must be true or false" },
				{ field: "metadata.a", message: "must be a string" },
			]),
		);
		for (const problem of problems) expect(problem.message).not.toMatch(/Invalid input|Unrecognized/);
	});

	it("says a missing field is required, and keeps messages a schema sets", () => {
		const problems = problemsOf(EndpointIn, { channel: "email", to: ["not an address"] });
		expect(problems).toEqual([
			{ field: "events", message: "is required" },
			{ field: "to.0", message: "must be an email address" },
		]);
	});

	it("adds the deployment's URL rules to a failed validation, unless zod already named the url", () => {
		const input = { url: "http://example.com/h", events: [] };
		const zod = problemsOf(EndpointIn, input);
		expect(deploymentProblems(input, "production", zod)).toEqual([{ field: "url", message: "must be an https URL" }]);
		expect(deploymentProblems(input, "development", zod)).toEqual([]);
		expect(deploymentProblems({ url: 1 }, "production", [{ field: "url", message: "must be a string" }])).toEqual([]);
		const malformed = { url: "https://example.com/h", events: [], transformation: "{" };
		expect(deploymentProblems(malformed, "production", problemsOf(EndpointIn, malformed))).toEqual([
			{ field: "transformation", message: expect.stringMatching(/ at position \d+$/) },
		]);
		const slack = { channel: "slack", url: "https://example.com/services/x", events: [] };
		expect(deploymentProblems(slack, "production", problemsOf(EndpointIn, slack))).toEqual([
			{ field: "url", message: "must be a Slack incoming-webhook URL (https://hooks.slack.com/…)" },
		]);
	});

	it("measures JSON nesting outside strings", () => {
		expect(nestingDepthExceeds("[".repeat(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
		expect(nestingDepthExceeds("[".repeat(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
		expect(nestingDepthExceeds(`{"a":"${"[".repeat(500)}"}`, MAX_JSON_DEPTH)).toBe(false);
		expect(nestingDepthExceeds(`{"a":"\\"${"{".repeat(500)}"}`, MAX_JSON_DEPTH)).toBe(false);
		expect(nestingDepthExceeds(`${"[{".repeat(40)}`, MAX_JSON_DEPTH)).toBe(true);
	});
});

describe("integer bounds", () => {
	it("names the field's own range, not zod's safe-integer bound", () => {
		const problems = problemsOf(EndpointIn, { url: "https://example.com/h", events: ["a"], timeout_ms: -1e300 });
		expect(problems).toEqual([{ field: "timeout_ms", message: "must be at least 100" }]);
	});
});
