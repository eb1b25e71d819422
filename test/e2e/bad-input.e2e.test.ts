import { beforeAll, describe, expect, it } from "vitest";
import { type ApiResponse, call, listAllIds, type RequestOptions, summarize } from "./support/api";

interface BadRequest {
	name: string;
	method: string;
	path: string;
	options: RequestOptions;
	/** Acceptable statuses: exact where the contract names one, else the plausible 4xx. */
	expected: number[];
}

const INVALID = [400, 422];
const VALID_EVENT = { type: "bad.input", data: { ok: true } };
const VALID_WEBHOOK = {
	url: "http://127.0.0.1:9/webhook",
	events: ["bad.input"],
};
const MAX_PAYLOAD = 256 * 1024;

const CASES: BadRequest[] = [
	{
		name: "event: malformed JSON",
		method: "POST",
		path: "/v1/events",
		options: {
			rawBody: '{"type": "bad.input", "data": {',
			contentType: "application/json",
		},
		expected: [400],
	},
	{
		name: "event: text/plain content type",
		method: "POST",
		path: "/v1/events",
		options: {
			rawBody: JSON.stringify(VALID_EVENT),
			contentType: "text/plain",
		},
		expected: [415, ...INVALID],
	},
	{
		name: "event: no content type",
		method: "POST",
		path: "/v1/events",
		options: { rawBody: JSON.stringify(VALID_EVENT) },
		expected: [415, ...INVALID],
	},
	{
		name: "event: missing type",
		method: "POST",
		path: "/v1/events",
		options: { json: { data: { ok: true } } },
		expected: INVALID,
	},
	{
		name: "event: type not a string",
		method: "POST",
		path: "/v1/events",
		options: { json: { type: 42, data: { ok: true } } },
		expected: INVALID,
	},
	{
		name: "event: data a string",
		method: "POST",
		path: "/v1/events",
		options: { json: { type: "bad.input", data: "not an object" } },
		expected: INVALID,
	},
	{
		name: "event: data an array",
		method: "POST",
		path: "/v1/events",
		options: { json: { type: "bad.input", data: [1, 2, 3] } },
		expected: INVALID,
	},
	{
		name: "event: body a JSON array",
		method: "POST",
		path: "/v1/events",
		options: { json: [VALID_EVENT] },
		expected: INVALID,
	},
	{
		name: "event: payload over 256 KiB",
		method: "POST",
		path: "/v1/events",
		options: {
			json: { type: "bad.input", data: { blob: "x".repeat(MAX_PAYLOAD + 1) } },
		},
		expected: [413],
	},
	{
		name: "event: no Authorization header",
		method: "POST",
		path: "/v1/events",
		options: { json: VALID_EVENT, authorization: null },
		expected: [401],
	},
	{
		name: "event: wrong bearer key",
		method: "POST",
		path: "/v1/events",
		options: { json: VALID_EVENT, authorization: "Bearer not-the-admin-key" },
		expected: [401],
	},
	{
		name: "event: not a bearer scheme",
		method: "POST",
		path: "/v1/events",
		options: { json: VALID_EVENT, authorization: "Basic YWRtaW46YWRtaW4=" },
		expected: [401],
	},
	{
		name: "events list: no Authorization header",
		method: "GET",
		path: "/v1/events",
		options: { authorization: null },
		expected: [401],
	},
	{
		name: "webhook: wrong bearer key",
		method: "POST",
		path: "/v1/webhooks",
		options: { json: VALID_WEBHOOK, authorization: "Bearer not-the-admin-key" },
		expected: [401],
	},
	{
		name: "webhook: malformed JSON",
		method: "POST",
		path: "/v1/webhooks",
		options: { rawBody: '{"url": ', contentType: "application/json" },
		expected: [400],
	},
	{
		name: "webhook: text/plain content type",
		method: "POST",
		path: "/v1/webhooks",
		options: {
			rawBody: JSON.stringify(VALID_WEBHOOK),
			contentType: "text/plain",
		},
		expected: [415, ...INVALID],
	},
	{
		name: "webhook: URL that is not a URL",
		method: "POST",
		path: "/v1/webhooks",
		options: { json: { ...VALID_WEBHOOK, url: "not a url" } },
		expected: INVALID,
	},
	{
		name: "webhook: URL with a non-HTTP scheme",
		method: "POST",
		path: "/v1/webhooks",
		options: { json: { ...VALID_WEBHOOK, url: "ftp://127.0.0.1/webhook" } },
		expected: INVALID,
	},
	{
		name: "webhook: URL over 2048 characters",
		method: "POST",
		path: "/v1/webhooks",
		options: {
			json: { ...VALID_WEBHOOK, url: `http://127.0.0.1:9/${"a".repeat(2048)}` },
		},
		expected: INVALID,
	},
	{
		name: "webhook: missing url",
		method: "POST",
		path: "/v1/webhooks",
		options: { json: { events: ["bad.input"] } },
		expected: INVALID,
	},
	{
		name: "webhook: events not an array",
		method: "POST",
		path: "/v1/webhooks",
		options: { json: { ...VALID_WEBHOOK, events: "bad.input" } },
		expected: INVALID,
	},
	{
		name: "webhook: negative timeout_ms",
		method: "POST",
		path: "/v1/webhooks",
		options: { json: { ...VALID_WEBHOOK, timeout_ms: -5 } },
		expected: INVALID,
	},
	{
		name: "webhook: unknown id",
		method: "GET",
		path: "/v1/webhooks/hook_doesnotexist000000",
		options: {},
		expected: [404],
	},
	{
		name: "webhook: test send to an unknown id",
		method: "POST",
		path: "/v1/webhooks/hook_doesnotexist000000/test",
		options: {},
		expected: [404],
	},
	{
		name: "event: unknown id",
		method: "GET",
		path: "/v1/events/evt_doesnotexist000000",
		options: {},
		expected: [404],
	},
	{
		name: "delivery: retry of an unknown id",
		method: "POST",
		path: "/v1/deliveries/del_doesnotexist000000/retry",
		options: {},
		expected: [404],
	},
];

function expectErrorEnvelope(response: ApiResponse, expected: number[]): void {
	const context = summarize(response);
	expect(expected, context).toContain(response.status);
	expect(response.contentType, context).toMatch(/^application\/json\b/);
	const body = response.json as { error?: { code?: unknown; message?: unknown } } | undefined;
	expect(typeof body?.error?.code, context).toBe("string");
	expect(body?.error?.code, context).not.toBe("");
	expect(typeof body?.error?.message, context).toBe("string");
	expect(body?.error?.message, context).not.toBe("");
}

describe("bad input", () => {
	let eventsBefore: string[] = [];
	let webhooksBefore: string[] = [];

	beforeAll(async () => {
		eventsBefore = await listAllIds("/v1/events", "events");
		webhooksBefore = await listAllIds("/v1/webhooks", "webhooks");
	});

	it.each(CASES)("$name → 4xx with the JSON error envelope", async ({ method, path, options, expected }) => {
		expectErrorEnvelope(await call(method, path, options), expected);
	});

	it("stored nothing: no new events, no new webhooks", async () => {
		const eventsAfter = await listAllIds("/v1/events", "events");
		const webhooksAfter = await listAllIds("/v1/webhooks", "webhooks");
		expect(eventsAfter.filter((id) => !eventsBefore.includes(id))).toEqual([]);
		expect(webhooksAfter.filter((id) => !webhooksBefore.includes(id))).toEqual([]);
	});
});
