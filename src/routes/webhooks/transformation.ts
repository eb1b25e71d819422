import { createRoute, z } from "@hono/zod-openapi";
import { renderMessage } from "../../channels/render";
import { transformationProblem } from "../../channels/transform";
import { tenantTemplates } from "../../db/templates";
import { newEventId } from "../../lib/ids";
import { EventTypeName } from "../events/schemas";
import { createRouter, errorResponses, IdParam, jsonContent } from "../shared";
import { validationFailed } from "../validation";
import { defaultTestPayload, loadEndpoint, TEST_EVENT_TYPE } from "./activity";
import { TransformationSchema } from "./schemas";

const TransformationTestIn = z
	.strictObject({
		event: z
			.strictObject({
				type: EventTypeName,
				data: z.record(z.string(), z.unknown()).openapi({ type: "object", example: { id: "user_123" } }),
				id: z.string().min(1).max(128).optional(),
			})
			.optional()
			.openapi({ description: "The event to run it on; when missing, the endpoint's webhook.test event" }),
		transformation: TransformationSchema.nullable()
			.optional()
			.openapi({ description: "An expression to try instead of the saved one; null tries the built-in layout" }),
	})
	.openapi("TransformationTestIn");

const TransformationTestOut = z
	.object({
		dropped: z.boolean().openapi({ description: "The expression produced nothing: the delivery would be skipped" }),
		body: z.unknown().openapi({
			description: "What would be sent: the JSON body, or {subject, text, html} for email; null when dropped",
		}),
	})
	.openapi("TransformationTestOut");

const route = createRoute({
	method: "post",
	path: "/v1/webhooks/{id}/transformation/test",
	tags: ["Webhooks"],
	summary: "Show what the endpoint would be sent for an event, without sending",
	description:
		"Runs the endpoint's transformation (or the one given), else the tenant's template or the channel's built-in layout, exactly as a delivery would. A failing expression answers 422 with the reason.",
	middleware: [loadEndpoint] as const,
	request: {
		params: IdParam,
		body: { required: false, content: { "application/json": { schema: TransformationTestIn } } },
	},
	responses: {
		200: jsonContent(TransformationTestOut, "The body a delivery would send"),
		...errorResponses(400, 401, 404, 415, 422),
	},
});

export const transformationTest = createRouter().openapi(route, async (c) => {
	const endpoint = c.var.endpoint;
	const input = c.req.valid("json") ?? {};
	const transformation = input.transformation === undefined ? endpoint.transformation : input.transformation;
	const problem = transformation === null ? null : transformationProblem(transformation);
	if (problem !== null) throw validationFailed([{ field: "transformation", message: problem }]);
	const now = Date.now();
	const event = input.event ?? { type: TEST_EVENT_TYPE, data: defaultTestPayload(endpoint.id) };
	const message = await renderMessage({
		event: {
			id: input.event?.id ?? newEventId(now),
			type: event.type,
			createdAt: now,
			data: JSON.stringify(event.data),
		},
		endpoint: { ...endpoint, transformation },
		templates: await tenantTemplates(c.var.db, c.var.tenantId),
		// A preview has no delivery to link to.
		deliveryId: "",
		publicBaseUrl: "",
	});
	switch (message.kind) {
		case "dropped":
			return c.json({ dropped: true, body: null }, 200);
		case "error":
			throw validationFailed([{ field: "transformation", message: message.message }]);
		case "email":
			return c.json({ dropped: false, body: message.content }, 200);
		case "http":
			return c.json({ dropped: false, body: JSON.parse(message.body) as unknown }, 200);
	}
});
