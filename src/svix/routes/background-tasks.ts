import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { nativeOrder, pageBothWays, SvixListQuery, svixList, svixListSchema } from "../paging";
import { createSvixRouter, type SvixEnv, svixErrors, svixJson } from "../router";
import { type NativeTask, svixTaskStatus } from "./endpoints";

/*
 * Svix background tasks are Edgehook tasks (/v1/tasks); a recover is the
 * only kind Edgehook runs. A tenant key sees its own tasks; the admin key,
 * Svix's organisation token, sees every tenant's, so it asks the native API
 * for all of them (`tenants=all`) and a task id alone finds its task.
 */

/** Svix's task kinds (../shared/SVIX-API.md section 5); only endpoint.recover exists here. */
const TASK_TYPES = [
	"endpoint.replay",
	"endpoint.recover",
	"application.stats",
	"message.broadcast",
	"sdk.generate",
	"event-type.aggregate",
	"application.purge_content",
	"endpoint.bulk-replay",
] as const;

const STATUS_FILTER = {
	running: "queued,running",
	finished: "completed",
	failed: "failed",
} as const;

const BackgroundTaskOut = z
	.object({
		id: z.string().openapi({ example: "task_3k9x2m7q1c8v4b6n" }),
		status: z.enum(["running", "finished", "failed"]),
		task: z.enum(TASK_TYPES),
		data: z.object({ messagesSent: z.number().int() }).openapi({ description: "Messages re-sent so far" }),
		updatedAt: z.string(),
	})
	.openapi("BackgroundTaskOut");

function taskOut(task: NativeTask): z.infer<typeof BackgroundTaskOut> {
	return {
		id: task.id,
		status: svixTaskStatus(task.status),
		task: "endpoint.recover",
		data: { messagesSent: task.done },
		updatedAt: task.updated_at,
	};
}

/** Every tenant's tasks for the admin key; a tenant key's own otherwise. */
function scopeOf(c: Context<SvixEnv>): { tenants?: "all" } {
	return c.var.principal.kind === "admin" ? { tenants: "all" } : {};
}

const getRoute = createRoute({
	method: "get",
	path: "/api/v1/background-task/{task_id}",
	tags: ["Background Tasks"],
	summary: "Get a background task",
	request: { params: z.object({ task_id: z.string().min(1).max(100) }) },
	responses: { 200: svixJson(BackgroundTaskOut, "The task"), ...svixErrors() },
});

const listRoute = createRoute({
	method: "get",
	path: "/api/v1/background-task",
	tags: ["Background Tasks"],
	summary: "List background tasks",
	description: "By id, descending unless `order=ascending`. Ids are random, so the order is stable but not by time.",
	request: {
		query: SvixListQuery.extend({
			status: z.enum(["running", "finished", "failed"]).optional(),
			task: z.enum(TASK_TYPES).optional(),
		}),
	},
	responses: {
		200: svixJson(svixListSchema(BackgroundTaskOut, "ListResponse_BackgroundTaskOut_"), "A page of tasks"),
		...svixErrors(400),
	},
});

export const backgroundTasksRoutes = createSvixRouter()
	.openapi(getRoute, async (c) => {
		const { task_id: taskId } = c.req.valid("param");
		const answer = await c.var.native.call<NativeTask>({
			method: "GET",
			path: `/v1/tasks/${encodeURIComponent(taskId)}`,
			query: scopeOf(c),
		});
		return c.json(taskOut(answer.body), 200);
	})
	.openapi(listRoute, async (c) => {
		const { limit, iterator, order, status, task } = c.req.valid("query");
		// Edgehook runs no other kind of task: there is none to list.
		if (task !== undefined && task !== "endpoint.recover") return c.json(svixList([], null), 200);
		const list = await pageBothWays(
			iterator,
			nativeOrder(order) ?? "desc",
			async (direction, cursor) => {
				const page = await c.var.native.call<{ tasks: NativeTask[]; next_cursor: string | null }>({
					method: "GET",
					path: "/v1/tasks",
					query: {
						...scopeOf(c),
						limit,
						cursor,
						order: direction,
						status: status === undefined ? undefined : STATUS_FILTER[status],
						kind: "recover",
					},
				});
				return { items: page.body.tasks, more: page.body.next_cursor !== null };
			},
			(task) => task.id,
			taskOut,
		);
		return c.json(list, 200);
	});
