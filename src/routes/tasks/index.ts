import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { tasks } from "../../db/schema";
import { notFound } from "../../lib/errors";
import { createRouter, errorResponses, IdParam, jsonContent } from "../shared";
import { TaskOut, taskOut } from "./schemas";

const getRoute = createRoute({
	method: "get",
	path: "/v1/tasks/{id}",
	tags: ["Tasks"],
	summary: "A background task (such as a recover) and its progress",
	request: { params: IdParam },
	responses: { 200: jsonContent(TaskOut, "The task"), ...errorResponses(401, 404) },
});

export const taskRoutes = createRouter().openapi(getRoute, async (c) => {
	const { id } = c.req.valid("param");
	const [row] = await c.var.db
		.select()
		.from(tasks)
		.where(and(eq(tasks.tenantId, c.var.tenantId), eq(tasks.id, id)));
	if (!row) throw notFound("task", id);
	return c.json(taskOut(row), 200);
});
