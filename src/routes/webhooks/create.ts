import { createRoute } from "@hono/zod-openapi";
import { endpoints } from "../../db/schema";
import { generateSecret } from "../../delivery/signing";
import { targetUrlProblem } from "../../delivery/target-url";
import { ApiError } from "../../lib/errors";
import { newEndpointId } from "../../lib/ids";
import { createRouter, errorResponses, jsonBody, jsonContent } from "../shared";
import { validationFailed } from "../validation";
import { EndpointIn, EndpointOut, endpointOut } from "./schemas";

export function assertTargetUrl(url: string, environment: string): void {
	const problem = targetUrlProblem(url, environment);
	if (problem) throw validationFailed([{ field: "url", message: problem }]);
}

const route = createRoute({
	method: "post",
	path: "/v1/webhooks",
	tags: ["Webhooks"],
	summary: "Create a webhook endpoint",
	request: { body: jsonBody(EndpointIn) },
	responses: {
		201: jsonContent(EndpointOut, "The endpoint, with its secret in full"),
		...errorResponses(400, 401, 415, 422),
	},
});

export const createWebhook = createRouter().openapi(route, async (c) => {
	const input = c.req.valid("json");
	assertTargetUrl(input.url, c.env.ENVIRONMENT);
	const now = Date.now();
	const [row] = await c.var.db
		.insert(endpoints)
		.values({
			tenantId: c.var.tenantId,
			id: newEndpointId(),
			url: input.url,
			description: input.description ?? "",
			events: JSON.stringify(input.events),
			secret: input.secret ?? generateSecret(),
			active: input.active ?? true,
			headers: JSON.stringify(input.headers ?? {}),
			metadata: JSON.stringify(input.metadata ?? {}),
			retrySchedule: input.retry_schedule ? JSON.stringify(input.retry_schedule) : null,
			timeoutMs: input.timeout_ms ?? null,
			rateLimitPerSecond: input.rate_limit_per_second ?? null,
			ordering: input.ordering ?? "unordered",
			createdAt: now,
			updatedAt: now,
		})
		.returning();
	if (!row) throw new ApiError("internal_error", "the endpoint was not stored");
	return c.json(endpointOut(row, true), 201);
});
