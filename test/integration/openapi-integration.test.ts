import { describe, expect, it } from "vitest";
import committed from "../../docs/openapi.json";
import { api, record } from "./helpers";

describe("API description", () => {
	it("serves /openapi.json (OpenAPI 3.1) identical to the committed docs/openapi.json; run `npm run openapi` after changing a route", async () => {
		const served = await api("GET", "/openapi.json", { auth: null });
		expect(served.status).toBe(200);
		expect(record(served.body).openapi).toBe("3.1.0");
		expect(served.body).toEqual(committed);
	});

	it("documents every operation of the contract", () => {
		const operations = Object.entries(committed.paths).flatMap(([path, item]) =>
			Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
		);
		expect(operations.sort()).toEqual(
			[
				"DELETE /v1/event-types/{name}",
				"DELETE /v1/templates/{channel}/{event_type}",
				"PATCH /v1/event-types/{name}",
				"DELETE /v1/webhooks/{id}",
				"GET /v1/attempts",
				"GET /v1/deliveries/{id}",
				"GET /v1/deliveries/{id}/request",
				"GET /v1/event-types",
				"GET /v1/recent-event-types",
				"GET /v1/templates",
				"GET /v1/templates/{channel}/{event_type}",
				"GET /v1/events",
				"GET /v1/events/{id}",
				"GET /v1/health",
				"GET /v1/webhooks",
				"GET /v1/webhooks/{id}",
				"GET /v1/webhooks/{id}/deliveries",
				"GET /v1/webhooks/{id}/stats",
				"GET /v1/webhooks/{id}/secret",
				"PATCH /v1/webhooks/{id}",
				"POST /v1/deliveries/{id}/retry",
				"POST /v1/event-types",
				"POST /v1/events",
				"POST /v1/events/batch",
				"POST /v1/webhooks",
				"POST /v1/webhooks/{id}/test",
				"POST /v1/webhooks/{id}/rotate-secret",
				"POST /v1/webhooks/{id}/transformation/test",
				"PUT /v1/templates/{channel}/{event_type}",
				"POST /v1/webhooks/{id}/recover",
				"GET /v1/tasks",
				"GET /v1/tasks/{id}",
				"POST /v1/tenants",
				"GET /v1/tenants",
				"GET /v1/tenants/{id}",
				"PATCH /v1/tenants/{id}",
				"DELETE /v1/tenants/{id}",
				"POST /v1/tenants/{id}/api-keys",
				"GET /v1/tenants/{id}/api-keys",
				"DELETE /v1/tenants/{id}/api-keys/{key_id}",
				"POST /v1/tenants/{id}/portal-links",
				"POST /v1/portal-links",
				"GET /v1/tenant",
				"PATCH /v1/tenant",
				"GET /v1/catalog/event-types",
				"POST /v1/catalog/event-types",
				"GET /v1/catalog/event-types/{name}",
				"PUT /v1/catalog/event-types/{name}",
				"PATCH /v1/catalog/event-types/{name}",
				"DELETE /v1/catalog/event-types/{name}",
			].sort(),
		);
	});

	it("renders /docs as a self-contained page listing the operations", async () => {
		const page = await api("GET", "/docs", { auth: null });
		expect(page.status).toBe(200);
		expect(page.headers.get("content-type")).toContain("text/html");
		const html = String(page.body);
		expect(html).toContain("<code>/v1/events/batch</code>");
		expect(html).toContain("EndpointIn");
		expect(html).not.toMatch(/<script|https?:\/\/cdn/);
	});

	it("answers unknown routes with the JSON error envelope", async () => {
		const response = await api("GET", "/v2/nothing", { auth: null });
		expect(response.status).toBe(404);
		expect(record(record(response.body).error).code).toBe("not_found");
	});
});
