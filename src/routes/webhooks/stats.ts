import { createRoute, z } from "@hono/zod-openapi";
import { desc, sql } from "drizzle-orm";
import type { Database } from "../../db/client";
import { type LogPosition, type LogQuery, readEndpointLog } from "../../db/delivery-log";
import { getEndpointOr404 } from "../../db/endpoints";
import { type DeliveryRow, deliveries } from "../../db/schema";
import { deliveryIdRange } from "../../lib/ids";
import { createRouter, DateTimeQuery, errorResponses, IdParam, iso, jsonContent } from "../shared";

const HOUR_MS = 60 * 60 * 1000;

export const STATS_WINDOWS = {
	"24h": { bucketMs: HOUR_MS, buckets: 24 },
	"7d": { bucketMs: 6 * HOUR_MS, buckets: 28 },
} as const;

export type StatsWindow = keyof typeof STATS_WINDOWS;

/** The most deliveries one stats request reads, newest first; beyond it the answer says `sampled`. */
export const MAX_STATS_ROWS = 20_000;
/** Rows per query: a quiet endpoint costs one small read, a busy one a few. */
const PAGE_ROWS = 2_500;

const StatsBucket = z
	.object({
		start: z.string(),
		succeeded: z.number().int().openapi({ description: "Deliveries created in the bucket that are now success" }),
		failed: z.number().int().openapi({ description: "Deliveries created in the bucket that are now failed" }),
		p50_ms: z.number().nullable().openapi({ description: "Median duration of the attempts started in the bucket" }),
		p95_ms: z.number().nullable(),
	})
	.openapi("WebhookStatsBucket");

export const WebhookStats = z
	.object({
		window: z.enum(["24h", "7d"]),
		from: z.string().openapi({ description: "Start of the oldest bucket" }),
		to: z.string().openapi({ description: "Now" }),
		totals: z
			.object({
				deliveries: z.number().int(),
				succeeded: z.number().int(),
				failed: z.number().int(),
				pending: z.number().int(),
				skipped: z
					.number()
					.int()
					.openapi({ description: "Dropped by the endpoint's transformation or the tenant's template; nothing sent" }),
				success_rate: z
					.number()
					.nullable()
					.openapi({ description: "succeeded / (succeeded + failed); null when no delivery has finished" }),
			})
			.openapi({
				description:
					"Deliveries created since `from`, or in [`since`, `until`) when the request gives either, by their current status",
			}),
		last_delivery_at: z
			.string()
			.nullable()
			.openapi({ description: "When the newest attempt to this endpoint started; null when there is none" }),
		buckets: z.array(StatsBucket).openapi({ description: "Hourly for 24h, 6-hourly for 7d, oldest first" }),
		sampled: z.boolean().openapi({
			description: `True when the window holds more deliveries than were read (\`max_deliveries\`, ${MAX_STATS_ROWS} unless asked for fewer): the figures cover the newest that were`,
		}),
	})
	.openapi("WebhookStats");

const statsRoute = createRoute({
	method: "get",
	path: "/v1/webhooks/{id}/stats",
	tags: ["Webhooks"],
	summary: "Delivery counts and attempt latency of the endpoint over the last 24 hours or 7 days",
	description:
		"Deliveries are counted by their current status in the bucket they were created in; latency percentiles are over the attempts that started in the bucket. Buckets are aligned to their size in UTC.",
	request: {
		params: IdParam,
		query: z
			.object({
				window: z.enum(["24h", "7d"]).default("24h").openapi({ example: "24h" }),
				since: DateTimeQuery(
					"Count only deliveries created at or after this time (default: the window's start); the buckets still cover the window alone",
				),
				until: DateTimeQuery("Count only deliveries created before this time (default: now)"),
				max_deliveries: z.coerce
					.number()
					.int()
					.min(100)
					.max(MAX_STATS_ROWS)
					.default(MAX_STATS_ROWS)
					.openapi({
						description: `Read at most this many of the endpoint's newest deliveries (default and most ${MAX_STATS_ROWS}); past it the answer says \`sampled\`. A list of many endpoints asks for fewer, so that busy ones stay cheap.`,
						example: 1000,
					}),
			})
			.refine(
				({ since, until }) => since === undefined || until === undefined || Date.parse(since) < Date.parse(until),
				{ path: ["since"], message: "must be before until" },
			),
	},
	responses: {
		200: jsonContent(WebhookStats, "The endpoint's statistics"),
		...errorResponses(401, 404, 422),
	},
});

/** The creation times whose deliveries the totals count, `until` excluded. */
export interface TotalsRange {
	since: number;
	until: number;
}

interface StatsRow {
	id: string;
	status: DeliveryRow["status"];
	createdAt: number;
	/** JSON of [started_at, duration_ms] pairs: the attempts without their response bodies. */
	timings: string;
}

/**
 * The endpoint's deliveries from the newest back to the first one created
 * before `from`, at most `atMost`. Ids run in event order, which is
 * creation order, so the scan can stop there; `cut` says the cap stopped it
 * inside the window.
 */
async function readRecent(
	db: Database,
	tenantId: string,
	endpointId: string,
	from: number,
	atMost: number,
): Promise<{ rows: StatsRow[]; cut: boolean }> {
	const range = deliveryIdRange(endpointId);
	const rows: StatsRow[] = [];
	let upper = range.to;
	const read: LogQuery<StatsRow & LogPosition> = (source, limit) =>
		db
			.select({
				id: deliveries.id,
				endpointId: deliveries.endpointId,
				eventId: deliveries.eventId,
				status: deliveries.status,
				createdAt: deliveries.createdAt,
				timings: sql<string>`(SELECT json_group_array(json_array(json_extract(value, '$.started_at'), json_extract(value, '$.duration_ms'))) FROM json_each(${deliveries.attempts}))`,
			})
			.from(source)
			.orderBy(desc(deliveries.id))
			.limit(limit);
	while (rows.length < atMost) {
		const limit = Math.min(PAGE_ROWS, atMost - rows.length);
		const pageRange = { fromId: range.from, toId: upper, includeTo: false };
		const { items: page } = await readEndpointLog(db, tenantId, pageRange, {
			limit,
			packs: true,
			query: read,
			positionOf: (row) => row,
		});
		rows.push(...page);
		const last = page.at(-1);
		if (page.length < limit || last === undefined || last.createdAt < from) return { rows, cut: false };
		upper = last.id;
	}
	return { rows, cut: true };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], fraction: number): number | null {
	if (sorted.length === 0) return null;
	return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? null;
}

function parseTimings(json: string): [number, number][] {
	const pairs = JSON.parse(json) as [unknown, unknown][];
	const timings: [number, number][] = [];
	for (const [startedAt, durationMs] of pairs) {
		const started = typeof startedAt === "string" ? Date.parse(startedAt) : Number.NaN;
		if (Number.isFinite(started) && typeof durationMs === "number") timings.push([started, durationMs]);
	}
	return timings;
}

/** Start of the oldest bucket: the buckets are aligned to their size and the newest holds now. */
export function windowStart(window: StatsWindow, now: number): number {
	const { bucketMs, buckets } = STATS_WINDOWS[window];
	return Math.floor(now / bucketMs) * bucketMs - (buckets - 1) * bucketMs;
}

export function computeStats(
	rows: readonly StatsRow[],
	window: StatsWindow,
	now: number,
	sampled: boolean,
	totalsRange: TotalsRange | null = null,
): z.infer<typeof WebhookStats> {
	const { bucketMs, buckets: count } = STATS_WINDOWS[window];
	const from = windowStart(window, now);
	const bucketOf = (time: number) => Math.min(count - 1, Math.floor((time - from) / bucketMs));
	const buckets = Array.from({ length: count }, () => ({ succeeded: 0, failed: 0, durations: [] as number[] }));
	const totals = { deliveries: 0, succeeded: 0, failed: 0, pending: 0, skipped: 0 };
	let lastAttempt: number | null = null;
	for (const row of rows) {
		for (const [started, duration] of parseTimings(row.timings)) {
			if (lastAttempt === null || started > lastAttempt) lastAttempt = started;
			if (started >= from) buckets[bucketOf(started)]?.durations.push(duration);
		}
		const counted = totalsRange ?? { since: from, until: Number.POSITIVE_INFINITY };
		if (row.createdAt < counted.since || row.createdAt >= counted.until) continue;
		totals.deliveries++;
		const bucket = buckets[bucketOf(row.createdAt)];
		if (row.status === "success") {
			totals.succeeded++;
			if (bucket) bucket.succeeded++;
		} else if (row.status === "failed") {
			totals.failed++;
			if (bucket) bucket.failed++;
		} else if (row.status === "skipped") totals.skipped++;
		else totals.pending++;
	}
	const finished = totals.succeeded + totals.failed;
	return {
		window,
		from: iso(from),
		to: iso(now),
		totals: { ...totals, success_rate: finished === 0 ? null : totals.succeeded / finished },
		last_delivery_at: iso(lastAttempt),
		buckets: buckets.map((bucket, index) => {
			const sorted = bucket.durations.sort((a, b) => a - b);
			return {
				start: iso(from + index * bucketMs),
				succeeded: bucket.succeeded,
				failed: bucket.failed,
				p50_ms: percentile(sorted, 0.5),
				p95_ms: percentile(sorted, 0.95),
			};
		}),
		sampled,
	};
}

export const webhookStats = createRouter().openapi(statsRoute, async (c) => {
	const { window, since, until, max_deliveries: maxDeliveries } = c.req.valid("query");
	const { id } = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
	const now = Date.now();
	const start = windowStart(window, now);
	const totalsRange =
		since === undefined && until === undefined
			? null
			: {
					since: since === undefined ? start : Date.parse(since),
					until: until === undefined ? now : Date.parse(until),
				};
	const { rows, cut } = await readRecent(
		c.var.db,
		c.var.tenantId,
		id,
		Math.min(start, totalsRange?.since ?? start),
		maxDeliveries,
	);
	return c.json(computeStats(rows, window, now, cut, totalsRange), 200);
});
