import { z } from "@hono/zod-openapi";
import type { TaskRow } from "../../db/schema";
import { recoverWindow } from "../../tasks/recover";
import { iso, isoDateTime } from "../shared";

/** The widest window one recover may cover, so counting and scanning it stay bounded. */
export const MAX_RECOVER_WINDOW_MS = 14 * 24 * 60 * 60 * 1000;
/** How far `until` may run ahead of the server's clock: room for the caller's clock being a little fast. */
export const MAX_CLOCK_SKEW_MS = 60 * 1000;

const DATE_TIME_OPTIONS = { offset: true } as const;

const DateTime = (description: string, example: string) => isoDateTime().openapi({ description, example });

const dateTimeFormat = z.iso.datetime(DATE_TIME_OPTIONS);

/** Whether the value passed its own field check, which zod does not stop at before running the window rules. */
function isDateTime(value: string | undefined): boolean {
	return value === undefined || dateTimeFormat.safeParse(value).success;
}

export const RecoverIn = z
	.strictObject({
		since: DateTime("Re-send failed deliveries of events created at or after this time", "2026-05-01T00:00:00Z"),
		until: DateTime(
			"Up to this time, excluded; now when missing. At most 14 days after `since` and a minute in the future",
			"2026-05-02T00:00:00Z",
		).optional(),
	})
	.superRefine((input, ctx) => {
		// A field that failed its own check is reported there alone.
		if (!isDateTime(input.since) || !isDateTime(input.until)) return;
		const since = Date.parse(input.since);
		const now = Date.now();
		const until = input.until === undefined ? now : Date.parse(input.until);
		if (until > now + MAX_CLOCK_SKEW_MS) {
			ctx.addIssue({ code: "custom", path: ["until"], message: "must not be more than a minute in the future" });
		} else if (since >= until) {
			ctx.addIssue({
				code: "custom",
				path: ["since"],
				message: input.until === undefined ? "must be in the past" : "must be before until",
			});
		} else if (until - since > MAX_RECOVER_WINDOW_MS) {
			ctx.addIssue({
				code: "custom",
				path: ["since"],
				message: `must be at most 14 days before ${input.until === undefined ? "now" : "until"}`,
			});
		}
	})
	.openapi("RecoverIn");

export const TaskStatus = z
	.enum(["queued", "running", "completed", "failed"])
	.openapi({ description: "queued until its first slice runs; failed tells why in `error`" });

export const TaskOut = z
	.object({
		id: z.string().openapi({ example: "task_3k9x2m7q1c8v4b6n" }),
		tenant_id: z.string().openapi({ description: "Whose task it is" }),
		kind: z.enum(["recover"]),
		status: TaskStatus,
		endpoint_id: z.string(),
		since: z.string(),
		until: z.string(),
		total: z.number().int().openapi({
			description:
				"Failed deliveries in the window when the task was created; deliveries failing or recovering meanwhile can move it, and it equals `done` once completed",
		}),
		done: z.number().int().openapi({ description: "Deliveries re-sent so far" }),
		error: z
			.string()
			.nullable()
			.openapi({ description: "Why the task failed, or the last error of a slice the queue is retrying" }),
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("TaskOut");

export function taskOut(row: TaskRow): z.infer<typeof TaskOut> {
	const window = recoverWindow(row);
	return {
		id: row.id,
		tenant_id: row.tenantId,
		kind: row.kind,
		status: row.status,
		endpoint_id: row.endpointId,
		since: iso(window.since),
		until: iso(window.until),
		total: row.total,
		done: row.done,
		error: row.error,
		created_at: iso(row.createdAt),
		updated_at: iso(row.updatedAt),
	};
}

/**
 * Which tenants' tasks a request reads: the tenant in scope, or with
 * `tenants=all` (admin key only) every tenant's, so that a task id alone
 * finds its task wherever it is stored.
 */
export const TaskScope = z.enum(["all"]).optional().openapi({
	description:
		"all: every tenant's tasks, on every shard (admin key only); otherwise the tenant in scope (the key's own, or X-Tenant-Id)",
});

export const TaskListQuery = z.object({
	limit: z.coerce.number().int().min(1).max(250).default(50).openapi({ example: 50 }),
	cursor: z.string().max(200).optional(),
	order: z
		.enum(["asc", "desc"])
		.default("desc")
		.openapi({ description: "By id: desc (default) or asc; the cursor pages on in the same order" }),
	status: z
		.string()
		.max(64)
		.regex(
			/^(queued|running|completed|failed)(,(queued|running|completed|failed))*$/,
			"must be task statuses separated by commas",
		)
		.optional()
		.openapi({ description: "Only tasks in one of these statuses, comma-separated", example: "queued,running" }),
	kind: z.enum(["recover"]).optional(),
	tenants: TaskScope,
});
