import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, isNotNull } from "drizzle-orm";
import { openDatabase } from "../../db/client";
import { endpoints } from "../../db/schema";
import { allTenantShards } from "../../db/tenant-database";
import { type Backlog, backlogBounds, boundPassed, readBacklog } from "../../queue/backlog";
import { firstAttemptBacklog } from "../../reliability/first-attempt-backlog";
import { lastSweepCompletedAt } from "../../reliability/sweeper";
import { schedulerFor } from "../../scheduler/client";
import { createRouter, errorResponses, iso, jsonContent } from "../shared";

/** The sweeper runs every minute: three missed runs in a row mean the cron is not firing or keeps failing. */
const SWEEPER_LATE_AFTER_MS = 3 * 60_000;
/** Failing endpoints whose circuits are looked at per database: one Durable Object request each. */
const FAILING_ENDPOINTS_CHECKED = 50;

const QueueHealth = z
	.object({
		backlog_messages: z.number().int().nullable(),
		oldest_message_age_seconds: z.number().int().nullable().openapi({
			description: "How long the oldest message has waited; null when the queue is empty or does not say",
		}),
	})
	.openapi("QueueHealth");

const ShardHealth = z
	.object({
		database: z.string().openapi({ description: "The D1 binding", example: "DB" }),
		first_attempts_waiting: z
			.object({
				oldest_age_seconds: z.number().int().nullable().openapi({
					description:
						"How long the shard's oldest event without a first attempt has waited (an estimate, found by bisecting the events); 0 when none waits, null when the shard has no events",
				}),
				events_at_most: z.number().int().openapi({
					description: "Events stored since that one, itself included: an upper bound of those waiting",
				}),
			})
			.openapi({ description: "This shard's share of the backlog: the delivery queue is shared by every shard" }),
		sweeper_last_completed_at: z.string().nullable(),
		failing_endpoints: z.number().int().openapi({
			description: "Active endpoints in a run of failures (at most the first 50 are looked at)",
		}),
		open_circuits: z
			.array(
				z.object({
					tenant_id: z.string(),
					endpoint_id: z.string(),
					state: z.enum(["open", "half_open"]),
					failing_since: z.string().nullable(),
					next_probe_at: z.string().nullable(),
				}),
			)
			.openapi({ description: "Those of them whose circuit breaker holds their deliveries" }),
	})
	.openapi("ShardHealth");

const Health = z
	.object({
		status: z.enum(["ok", "degraded"]),
		problems: z.array(z.string()).openapi({ description: "What makes the status degraded, in words" }),
		checked_at: z.string(),
		queues: z.object({ deliveries: QueueHealth, slow: QueueHealth, dead_letter: QueueHealth }),
		backpressure: z.object({
			max_backlog_age_seconds: z.number().int(),
			max_backlog_messages: z.number().int(),
			shedding: z.boolean().openapi({ description: "Whether new events are refused with 503 right now" }),
		}),
		shards: z.array(ShardHealth),
	})
	.openapi("Health");

const healthRoute = createRoute({
	method: "get",
	path: "/v1/health",
	tags: ["Health"],
	summary: "The deployment's health for monitoring: queue backlogs, the sweeper, open circuits (admin key only)",
	description:
		"`status` is `degraded` when ingest is shedding load, a queue's metrics cannot be read, a database's sweeper has not completed a run for 3 minutes, or a database's oldest event without a first attempt has waited longer than MAX_BACKLOG_AGE_SECONDS; `problems` says which. Poll it from your monitoring.",
	responses: {
		200: jsonContent(Health, "The deployment's health"),
		...errorResponses(401, 403),
	},
});

async function queueHealth(
	queue: Queue<unknown>,
	name: string,
	problems: string[],
): Promise<{ health: z.infer<typeof QueueHealth>; backlog: Backlog | null }> {
	try {
		const backlog = await readBacklog(queue);
		return {
			health: { backlog_messages: backlog.messages, oldest_message_age_seconds: backlog.oldestAgeSeconds },
			backlog,
		};
	} catch (error) {
		console.error(`health: the ${name} queue's metrics could not be read`, error);
		problems.push(`the ${name} queue's metrics could not be read`);
		return { health: { backlog_messages: null, oldest_message_age_seconds: null }, backlog: null };
	}
}

async function shardHealth(
	env: Env,
	shard: { name: string; d1: D1Database },
	nowMs: number,
	problems: string[],
): Promise<z.infer<typeof ShardHealth>> {
	const db = openDatabase(shard.d1);
	const [lastSweep, backlog, failing] = await Promise.all([
		lastSweepCompletedAt(db),
		firstAttemptBacklog(db, nowMs),
		db
			.select({ tenantId: endpoints.tenantId, id: endpoints.id, failingSince: endpoints.failingSince })
			.from(endpoints)
			.where(and(isNotNull(endpoints.failingSince), eq(endpoints.active, true)))
			.orderBy(asc(endpoints.failingSince))
			.limit(FAILING_ENDPOINTS_CHECKED),
	]);
	if (lastSweep === null || nowMs - lastSweep > SWEEPER_LATE_AFTER_MS) {
		problems.push(
			lastSweep === null
				? `the sweeper has never completed a run over ${shard.name}`
				: `the sweeper last completed a run over ${shard.name} ${Math.round((nowMs - lastSweep) / 1000)} s ago`,
		);
	}
	const { ageSeconds: maxAgeSeconds } = backlogBounds(env);
	if (
		maxAgeSeconds > 0 &&
		backlog.oldestWaitingAgeSeconds !== null &&
		backlog.oldestWaitingAgeSeconds > maxAgeSeconds
	) {
		problems.push(
			`${shard.name}: its oldest event without a first attempt has waited ${backlog.oldestWaitingAgeSeconds} s, over the backlog bound of ${maxAgeSeconds} s`,
		);
	}
	const circuits = await Promise.all(
		failing.map(async (endpoint) => ({
			endpoint,
			circuit: await schedulerFor(env, endpoint.tenantId, endpoint.id).health(),
		})),
	);
	return {
		database: shard.name,
		first_attempts_waiting: {
			oldest_age_seconds: backlog.oldestWaitingAgeSeconds,
			events_at_most: backlog.waitingEventsAtMost,
		},
		sweeper_last_completed_at: iso(lastSweep),
		failing_endpoints: failing.length,
		open_circuits: circuits.flatMap(({ endpoint, circuit }) =>
			circuit.state === "closed"
				? []
				: [
						{
							tenant_id: endpoint.tenantId,
							endpoint_id: endpoint.id,
							state: circuit.state,
							failing_since: iso(endpoint.failingSince),
							next_probe_at: iso(circuit.nextProbeAt),
						},
					],
		),
	};
}

export const healthRoutes = createRouter().openapi(healthRoute, async (c) => {
	const nowMs = Date.now();
	const problems: string[] = [];
	const [deliveries, slow, deadLetter] = await Promise.all([
		queueHealth(c.env.DELIVERY_QUEUE, "deliveries", problems),
		queueHealth(c.env.SLOW_DELIVERY_QUEUE, "slow", problems),
		queueHealth(c.env.DEAD_LETTER_QUEUE, "dead-letter", problems),
	]);
	const bounds = backlogBounds(c.env);
	const shedding = deliveries.backlog === null ? null : boundPassed(deliveries.backlog, bounds);
	if (shedding !== null) problems.push(`ingest is refusing new events: the delivery queue's backlog: ${shedding}`);
	const shards = [];
	for (const shard of allTenantShards(c.env)) shards.push(await shardHealth(c.env, shard, nowMs, problems));
	return c.json(
		{
			status: problems.length === 0 ? ("ok" as const) : ("degraded" as const),
			problems,
			checked_at: iso(nowMs),
			queues: { deliveries: deliveries.health, slow: slow.health, dead_letter: deadLetter.health },
			backpressure: {
				max_backlog_age_seconds: bounds.ageSeconds,
				max_backlog_messages: bounds.messages,
				shedding: shedding !== null,
			},
			shards,
		},
		200,
	);
});
