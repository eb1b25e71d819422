import { createRoute } from "@hono/zod-openapi";
import { endpoints } from "../../db/schema";
import { generateSecret } from "../../delivery/signing";
import { ApiError } from "../../lib/errors";
import { newEndpointId } from "../../lib/ids";
import { createRouter, errorResponses, jsonBody, jsonContent } from "../shared";
import { EndpointIn, EndpointOut, endpointOut } from "./schemas";
import { assertEndpointTarget } from "./target";

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
	const channel = input.channel ?? "webhook";
	assertEndpointTarget({ channel, url: input.url ?? null, to: input.to ?? null }, input.transformation ?? null, {
		env: c.env,
		tenantId: c.var.tenantId,
	});
	const now = Date.now();
	const [row] = await c.var.db
		.insert(endpoints)
		.values({
			tenantId: c.var.tenantId,
			id: newEndpointId(),
			url: input.url ?? "",
			channel,
			recipients: input.to ? JSON.stringify(input.to) : null,
			transformation: input.transformation ?? null,
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
	return c.json(endpointOut(row, { revealSecret: true, hideCredentials: c.var.readOnly }), 201);
});
