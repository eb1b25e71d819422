import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, inArray, lt, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client";
import { type TaskRow, tasks } from "../../db/schema";
import { allTenantShards, shardDatabase } from "../../db/tenant-database";
import { ApiError, notFound } from "../../lib/errors";
import { type AppEnv, createRouter, errorResponses, IdParam, jsonContent } from "../shared";
import { TaskListQuery, TaskOut, TaskScope, taskOut } from "./schemas";

const listRoute = createRoute({
	method: "get",
	path: "/v1/tasks",
	tags: ["Tasks"],
	summary: "Background tasks (such as recovers), with their progress",
	description:
		"The tenant's tasks; with the admin key and `tenants=all`, every tenant's, read from every shard and merged by id.",
	request: { query: TaskListQuery },
	responses: {
		200: jsonContent(
			z.object({ tasks: z.array(TaskOut), next_cursor: z.string().nullable() }).openapi("TaskList"),
			"Tasks in the order of their ids",
		),
		...errorResponses(401, 403, 422),
	},
});

const getRoute = createRoute({
	method: "get",
	path: "/v1/tasks/{id}",
	tags: ["Tasks"],
	summary: "A background task (such as a recover) and its progress",
	description:
		"With the admin key and `tenants=all`, the task is looked for on every shard, whichever tenant it is of.",
	request: { params: IdParam, query: z.object({ tenants: TaskScope }) },
	responses: { 200: jsonContent(TaskOut, "The task"), ...errorResponses(401, 403, 404) },
});

/** The databases a request's tasks are read from, and the tenant they belong to (null: any). */
function taskSources(
	c: {
		env: Env;
		var: AppEnv["Variables"];
	},
	scope: "all" | undefined,
): { databases: Database[]; tenantId: string | null } {
	if (scope === undefined) return { databases: [c.var.db], tenantId: c.var.tenantId };
	if (c.var.principal.kind !== "admin") {
		throw new ApiError("forbidden", "tenants=all reads every tenant's tasks: it takes the admin key");
	}
	return { databases: allTenantShards(c.env).map((shard) => shardDatabase(c.env, shard.name)), tenantId: null };
}

export const taskRoutes = createRouter()
	.openapi(listRoute, async (c) => {
		const { limit, cursor, order, status, kind, tenants: scope } = c.req.valid("query");
		const { databases, tenantId } = taskSources(c, scope);
		const after = order === "asc" ? gt : lt;
		const conditions: (SQL | undefined)[] = [
			tenantId === null ? undefined : eq(tasks.tenantId, tenantId),
			cursor === undefined ? undefined : after(tasks.id, cursor),
			status === undefined ? undefined : inArray(tasks.status, [...new Set(status.split(","))] as TaskRow["status"][]),
			kind === undefined ? undefined : eq(tasks.kind, kind),
		];
		// Each shard gives its first limit+1 in order; the merged first limit+1 are then the deployment's.
		const pages = await Promise.all(
			databases.map((db) =>
				db
					.select()
					.from(tasks)
					.where(and(...conditions))
					.orderBy(order === "asc" ? asc(tasks.id) : desc(tasks.id))
					.limit(limit + 1),
			),
		);
		const byId = (a: TaskRow, b: TaskRow) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
		const rows = pages.flat().sort(order === "asc" ? byId : (a, b) => byId(b, a));
		const page = rows.slice(0, limit);
		const last = page.at(-1);
		return c.json({ tasks: page.map(taskOut), next_cursor: rows.length > limit && last ? last.id : null }, 200);
	})
	.openapi(getRoute, async (c) => {
		const { id } = c.req.valid("param");
		const { databases, tenantId } = taskSources(c, c.req.valid("query").tenants);
		const found = await Promise.all(
			databases.map((db) =>
				db
					.select()
					.from(tasks)
					.where(and(tenantId === null ? undefined : eq(tasks.tenantId, tenantId), eq(tasks.id, id)))
					.limit(1),
			),
		);
		const row = found.flat()[0];
		if (!row) throw notFound("task", id);
		return c.json(taskOut(row), 200);
	});
