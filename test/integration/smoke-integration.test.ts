import { describe, expect, it } from "vitest";
import { api, record } from "./helpers";

describe("smoke", () => {
	it("answers /healthz and creates a webhook", async () => {
		const health = await api("GET", "/healthz", { auth: null });
		expect(health.status).toBe(200);
		const created = await api("POST", "/v1/webhooks", { body: { url: "http://127.0.0.1:9/hook", events: ["user.*"] } });
		expect(created.status).toBe(201);
		expect(record(created.body).secret).toMatch(/^whsec_/);
	});
});
