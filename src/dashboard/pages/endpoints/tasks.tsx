import type { Hono } from "hono";
import { Badge, Notice, Time } from "../../components";
import { apiFailurePage, type DashboardEnv, render, TENANT_ROUTE } from "../../context";
import { endpointPath } from "../../paths";
import type { Task } from "./shared";

const REFRESH_SECONDS = 2;

export function registerTaskPages(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/tasks/:taskId`, async (c) => {
		const task = await c.var.api.get<Task>(`/v1/tasks/${encodeURIComponent(c.req.param("taskId"))}`);
		if (!task.ok) return apiFailurePage(c, task, "Recover");
		const { data } = task;
		const running = data.status === "queued" || data.status === "running";
		const badge = data.status === "completed" ? "success" : data.status === "failed" ? "failed" : "pending";
		return render(c, {
			title: "Recover",
			section: "endpoints",
			refreshSeconds: running ? REFRESH_SECONDS : undefined,
			children: (
				<>
					<p>
						Failed deliveries of events created from <Time value={data.since} /> to <Time value={data.until} /> are sent
						once more.
					</p>
					<dl class="details">
						<dt>Status</dt>
						<dd>
							<Badge value={badge} label={data.status} />
						</dd>
						<dt>Progress</dt>
						<dd>
							<span id="task-progress">
								{data.done} of {data.total} re-sent
							</span>{" "}
							<progress max={Math.max(data.total, 1)} value={data.done} aria-labelledby="task-progress" />
						</dd>
						<dt>Started</dt>
						<dd>
							<Time value={data.created_at} />
						</dd>
						<dt>Updated</dt>
						<dd>
							<Time value={data.updated_at} />
						</dd>
					</dl>
					{data.error ? <Notice kind={data.status === "failed" ? "error" : "info"}>{data.error}</Notice> : null}
					{running ? <p class="hint">This page refreshes itself every few seconds while the task runs.</p> : null}
					<p class="row">
						<a href={endpointPath(c.var.tenantId, data.endpoint_id)}>Back to the endpoint</a>
						<a href={endpointPath(c.var.tenantId, data.endpoint_id, "/deliveries")}>Delivery log</a>
					</p>
				</>
			),
		});
	});
}
