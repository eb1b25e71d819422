import { createRoute, z } from "@hono/zod-openapi";
import { and, eq, isNull } from "drizzle-orm";
import { publicBaseUrl } from "../../channels/render";
import { deliveriesByIds } from "../../db/delivery-log";
import { getEndpointOr404 } from "../../db/endpoints";
import { resolvePublicDeliveryId } from "../../db/events";
import { tenants } from "../../db/schema";
import { tenantTemplates } from "../../db/templates";
import type { AttemptRecord } from "../../delivery/attempt-record";
import { parseTenantSettings } from "../../delivery/settings";
import { ApiError, notFound } from "../../lib/errors";
import { buildAttemptRequest } from "../../queue/attempt";
import { createRouter, errorResponses, jsonContent } from "../shared";
import { DeliveryIdParam } from "./schemas";

const DeliveryRequest = z
	.object({
		method: z.literal("POST"),
		url: z.string(),
		headers: z.record(z.string(), z.string()),
		body: z.string().openapi({ description: "The body byte for byte, as signed" }),
		note: z.string().openapi({ description: "What the rebuilt request stands for and where it may differ" }),
	})
	.openapi("DeliveryRequest");

const requestRoute = createRoute({
	method: "get",
	path: "/v1/deliveries/{id}/request",
	tags: ["Deliveries"],
	summary: "The request the delivery's latest attempt sent, rebuilt",
	description:
		"Nothing of a request is stored but its response, so this rebuilds it the way the attempt built it: the same body (after the endpoint's transformation or the tenant's template) and headers, signed at the second the latest attempt started. The endpoint's URL, custom headers, secrets and transformation and the tenant's settings and templates are the current ones; `note` says how far that goes. An email delivery, or one that was skipped or whose transformation fails, answers 409.",
	request: { params: DeliveryIdParam },
	responses: { 200: jsonContent(DeliveryRequest, "The request"), ...errorResponses(401, 404, 409) },
});

/** The caveat shown with a rebuilt request, in one sentence. */
function noteFor(latest: AttemptRecord | undefined): string {
	if (latest === undefined) {
		return "No attempt yet: this is the request as it would be sent now, with the endpoint's and tenant's settings of today.";
	}
	return `Rebuilt with the time attempt ${latest.attempt} started (${latest.started_at}) and the secrets valid then, but with today's URL, headers, transformation and settings: its timestamp may be a second off, and the rest differs by whatever changed since.`;
}

export const deliveryRequestRoutes = createRouter().openapi(requestRoute, async (c) => {
	const { id } = c.req.valid("param");
	const named = await resolvePublicDeliveryId(c.var.db, c.var.tenantId, id);
	if (!named) throw notFound("delivery", id);
	const { event } = named;
	const [row] = await deliveriesByIds(c.var.db, [named.storedId], c.var.tenantId);
	// No row yet is a delivery whose first attempt is still queued, as GET /v1/deliveries/{id} reads it.
	if (!row && !(JSON.parse(event.endpointIds) as string[]).includes(named.endpointId)) {
		throw notFound("delivery", id);
	}
	const endpoint = await getEndpointOr404(c.var.db, c.var.tenantId, named.endpointId);
	// Rebuilt with today's transformation it could show a body, but nothing was sent.
	if (row?.status === "skipped") {
		throw new ApiError(
			"conflict",
			"the delivery was skipped: the transformation produced nothing, so nothing was sent",
		);
	}
	// The shard's copy of the tenant row: the same settings the consumer signs with.
	const [tenant] = await c.var.db
		.select({ settings: tenants.settings })
		.from(tenants)
		.where(and(eq(tenants.id, c.var.tenantId), isNull(tenants.deletedAt)));
	const latest = row ? (JSON.parse(row.attempts) as AttemptRecord[]).at(-1) : undefined;
	const startedAtMs = latest === undefined ? Number.NaN : Date.parse(latest.started_at);
	const signedAtMs = Number.isFinite(startedAtMs) ? startedAtMs : Date.now();
	const request = await buildAttemptRequest(
		event,
		endpoint,
		parseTenantSettings(tenant?.settings ?? "{}"),
		signedAtMs,
		{
			templates: await tenantTemplates(c.var.db, c.var.tenantId),
			deliveryId: id,
			publicBaseUrl: publicBaseUrl(c.env),
		},
	);
	if (request.kind === "email") {
		throw new ApiError("conflict", "an email delivery sends no HTTP request: its attempts list who it was sent to");
	}
	if (request.kind === "dropped") {
		throw new ApiError("conflict", "the endpoint's transformation drops this event: no request is sent");
	}
	if (request.kind === "error") {
		throw new ApiError("conflict", `no request can be built: ${request.source} failed: ${request.message}`);
	}
	const { body, headers } = request;
	return c.json({ method: "POST" as const, url: endpoint.url, headers, body, note: noteFor(latest) }, 200);
});
