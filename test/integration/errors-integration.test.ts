import { describe, expect, it } from "vitest";
import { api, record } from "./helpers";

function errorOf(body: unknown): Record<string, unknown> {
	return record(record(body).error);
}

describe("errors a new user meets first", () => {
	it("answer a known path with the wrong method 405 and Allow, an unknown path 404", async () => {
		const put = await api("PUT", "/v1/events", { body: { type: "a", data: {} } });
		expect(put.status).toBe(405);
		expect(put.headers.get("allow")).toBe("GET, HEAD, POST");
		expect(errorOf(put.body)).toMatchObject({
			code: "method_not_allowed",
			message: "PUT is not a method of /v1/events; it takes GET, HEAD, POST",
		});
		const deleteSecret = await api("DELETE", "/v1/webhooks/hook_x/secret");
		expect(deleteSecret.status).toBe(405);
		expect(deleteSecret.headers.get("allow")).toBe("GET, HEAD");
		const nowhere = await api("GET", "/v1/nowhere");
		expect(nowhere.status).toBe(404);
		expect(nowhere.headers.get("allow")).toBeNull();
		expect(errorOf(nowhere.body).code).toBe("not_found");
	});

	it("name the body, not a field of the validator, when it is not a JSON object", async () => {
		for (const rawBody of ["[]", "[1]", '"x"', "7"]) {
			const response = await api("POST", "/v1/events", { rawBody, headers: { "content-type": "application/json" } });
			expect(response.status, rawBody).toBe(422);
			expect(errorOf(response.body)).toMatchObject({
				message: "the request is not valid: body: must be an object",
				details: [{ field: "body", message: "must be an object" }],
			});
		}
	});

	it("state the limits the README states when a body is too large", async () => {
		const event = await api("POST", "/v1/events", { body: { type: "a", data: { blob: "x".repeat(270 * 1024) } } });
		expect(event.status).toBe(413);
		expect(String(errorOf(event.body).message)).toMatch(
			/^the event is too large: its data may be at most 256 KiB \(262144 bytes\)/,
		);
		const data = await api("POST", "/v1/events", { body: { type: "a", data: { blob: "x".repeat(256 * 1024) } } });
		expect(data.status).toBe(413);
		expect(String(errorOf(data.body).message)).toMatch(
			/^data is \d+ bytes; an event's data may be at most 256 KiB \(262144 bytes\)$/,
		);
		const webhook = await api("POST", "/v1/webhooks", {
			body: { url: "https://example.com", events: ["a"], description: "x".repeat(300 * 1024) },
		});
		expect(webhook.status).toBe(413);
		expect(errorOf(webhook.body).message).toBe(
			"the body is too large: a request body here may be at most 256 KiB (262144 bytes)",
		);
	});
});
