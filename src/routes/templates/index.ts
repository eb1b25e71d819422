import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, sql } from "drizzle-orm";
import { TEMPLATED_CHANNELS } from "../../channels/targets";
import { MAX_TRANSFORMATION_LENGTH, transformationProblem } from "../../channels/transform";
import { rowWhere, tenantCountBelow } from "../../db/limited-insert";
import { type TemplateRow, templates } from "../../db/schema";
import { notFound } from "../../lib/errors";
import { limitReached, tenantLimits } from "../../tenants/limits";
import { EVENT_TYPE_PATTERN } from "../events/schemas";
import { createRouter, errorResponses, iso, jsonBody, jsonContent } from "../shared";
import { validationFailed } from "../validation";

const TemplateParams = z.object({
	channel: z.enum(TEMPLATED_CHANNELS),
	event_type: z
		.string()
		.max(128)
		.refine((type) => type === "*" || EVENT_TYPE_PATTERN.test(type), "must be an event type or * for every type")
		.openapi({
			description: "An event type, or * for every type without a template of its own",
			example: "user.created",
		}),
});

const TemplateIn = z
	.strictObject({
		expression: z.string().max(MAX_TRANSFORMATION_LENGTH).openapi({
			description:
				"A JSONata expression over the envelope. Slack and Discord: its result is the message body. Email: {subject, text, html?}.",
			example: '{"text": "New " & type & ": " & data.email}',
		}),
	})
	.openapi("TemplateIn");

const TemplateOut = z
	.object({
		channel: z.enum(TEMPLATED_CHANNELS),
		event_type: z.string(),
		expression: z.string(),
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("Template");

function templateOut(row: TemplateRow): z.infer<typeof TemplateOut> {
	return {
		channel: row.channel,
		event_type: row.eventType,
		expression: row.expression,
		created_at: iso(row.createdAt),
		updated_at: iso(row.updatedAt),
	};
}

const listRoute = createRoute({
	method: "get",
	path: "/v1/templates",
	tags: ["Templates"],
	summary: "The tenant's message templates for the Slack, Discord and email channels",
	responses: {
		200: jsonContent(z.object({ templates: z.array(TemplateOut) }).openapi("TemplateList"), "Templates"),
		...errorResponses(401),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/v1/templates/{channel}/{event_type}",
	tags: ["Templates"],
	summary: "One template",
	request: { params: TemplateParams },
	responses: { 200: jsonContent(TemplateOut, "The template"), ...errorResponses(401, 404, 422) },
});

const putRoute = createRoute({
	method: "put",
	path: "/v1/templates/{channel}/{event_type}",
	tags: ["Templates"],
	summary: "Set the layout of a channel's messages for an event type",
	description:
		"Replaces the channel's built-in layout for the event type (or for every type, with *) in every endpoint of the channel that has no transformation of its own. A new template past the tenant's `max_templates` answers 409 `limit_reached` and is not stored; replacing one that exists always works.",
	request: { params: TemplateParams, body: jsonBody(TemplateIn) },
	responses: {
		200: jsonContent(TemplateOut, "The template as stored"),
		...errorResponses(400, 401, 409, 415, 422),
	},
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/v1/templates/{channel}/{event_type}",
	tags: ["Templates"],
	summary: "Remove a template: the built-in layout applies again",
	request: { params: TemplateParams },
	responses: { 204: { description: "Removed" }, ...errorResponses(401, 404, 422) },
});

function templateWhere(tenantId: string, channel: TemplateRow["channel"], eventType: string) {
	return and(eq(templates.tenantId, tenantId), eq(templates.channel, channel), eq(templates.eventType, eventType));
}

export const templateRoutes = createRouter()
	.openapi(listRoute, async (c) => {
		const rows = await c.var.db
			.select()
			.from(templates)
			.where(eq(templates.tenantId, c.var.tenantId))
			.orderBy(asc(templates.channel), asc(templates.eventType));
		return c.json({ templates: rows.map(templateOut) }, 200);
	})
	.openapi(getRoute, async (c) => {
		const { channel, event_type: eventType } = c.req.valid("param");
		const [row] = await c.var.db
			.select()
			.from(templates)
			.where(templateWhere(c.var.tenantId, channel, eventType));
		if (!row) throw notFound("template", `${channel}/${eventType}`);
		return c.json(templateOut(row), 200);
	})
	.openapi(putRoute, async (c) => {
		const { channel, event_type: eventType } = c.req.valid("param");
		const { expression } = c.req.valid("json");
		const problem = transformationProblem(expression);
		if (problem !== null) throw validationFailed([{ field: "expression", message: problem }]);
		const { max_templates: limit } = await tenantLimits(c.env, c.var.tenantId);
		const now = Date.now();
		// Counted inside the INSERT, so two creates at once cannot both take the last place; a
		// replacement passes at the limit, and the conflict clause turns it into an update.
		const [row] = await c.var.db
			.insert(templates)
			.select(
				rowWhere(
					templates,
					{ tenantId: c.var.tenantId, channel, eventType, expression, createdAt: now, updatedAt: now },
					sql`(${tenantCountBelow(templates, templates.tenantId, c.var.tenantId, limit)} or exists (select 1 from ${templates} where ${templateWhere(c.var.tenantId, channel, eventType)}))`,
				),
			)
			.onConflictDoUpdate({
				target: [templates.tenantId, templates.channel, templates.eventType],
				set: { expression, updatedAt: now },
			})
			.returning();
		if (!row) throw limitReached("max_templates", limit);
		return c.json(templateOut(row), 200);
	})
	.openapi(deleteRoute, async (c) => {
		const { channel, event_type: eventType } = c.req.valid("param");
		const deleted = await c.var.db
			.delete(templates)
			.where(templateWhere(c.var.tenantId, channel, eventType))
			.returning({ eventType: templates.eventType });
		if (deleted.length === 0) throw notFound("template", `${channel}/${eventType}`);
		return c.body(null, 204);
	});
