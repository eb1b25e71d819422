import { createRoute } from "@hono/zod-openapi";
import { withUniqueUid } from "../../db/endpoints";
import { rowWhere, tenantCountBelow } from "../../db/limited-insert";
import { endpoints } from "../../db/schema";
import { generateSecret } from "../../delivery/signing";
import { newEndpointId } from "../../lib/ids";
import { limitReached, tenantLimits } from "../../tenants/limits";
import { createRouter, errorResponses, jsonBody, jsonContent } from "../shared";
import { EndpointIn, EndpointOut, endpointOut } from "./schemas";
import { assertEndpointTarget } from "./target";

const route = createRoute({
	method: "post",
	path: "/v1/webhooks",
	tags: ["Webhooks"],
	summary: "Create a webhook endpoint",
	description:
		"409 `limit_reached` when the tenant already has its `max_endpoints`, 409 `conflict` when another endpoint has the `uid`; nothing is stored.",
	request: { body: jsonBody(EndpointIn) },
	responses: {
		201: jsonContent(EndpointOut, "The endpoint, with its secret in full"),
		...errorResponses(400, 401, 409, 415, 422),
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
	const { max_endpoints: limit } = await tenantLimits(c.env, c.var.tenantId);
	// Counted inside the INSERT, so two creates at once cannot both take the last place.
	const [row] = await withUniqueUid(input.uid, () =>
		c.var.db
			.insert(endpoints)
			.select(
				rowWhere(
					endpoints,
					{
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
						maxConcurrency: input.max_concurrency ?? null,
						ordering: input.ordering ?? "unordered",
						uid: input.uid ?? null,
						labels: input.labels ? JSON.stringify(input.labels) : null,
						headerStyle: input.header_style ?? "webhook",
						createdAt: now,
						updatedAt: now,
					},
					tenantCountBelow(endpoints, endpoints.tenantId, c.var.tenantId, limit),
				),
			)
			.returning(),
	);
	if (!row) throw limitReached("max_endpoints", limit);
	return c.json(endpointOut(row, { revealSecret: true, hideCredentials: c.var.readOnly }), 201);
});
