/**
 * The chaos run shared by `npm run chaos` and test/e2e/chaos.e2e.test.ts:
 * the real worker under `wrangler dev` on its persisted local state, with
 * receivers on 127.0.0.1 that misbehave in every way a webhook receiver does,
 * a compressed retry schedule, a stream of events, and the worker killed with
 * SIGKILL midway and started again on the same state. Then every (event,
 * endpoint) pair is accounted for through the API alone, and what the
 * receivers saw is checked against it.
 *
 * Everything stays on loopback; every process started here is ended in the
 * end, on failure too.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../lib/local-wrangler";
import { ChaosApi, inPool } from "./api";
import { type Arrival, type Behaviour, behaviours, ChaosReceiver, seededRandom } from "./receivers";
import { renderReport } from "./report";
import { ChaosWorker } from "./worker";

export interface ChaosOptions {
	/** The project root (where wrangler.toml is). */
	root: string;
	events: number;
	/** The events are spread evenly over this long (the kill's downtime comes on top). */
	sendDurationMs: number;
	/** How many of the POSTs are `/v1/events/batch`, and with how many events each. */
	batches: number;
	batchSize: number;
	/** The worker is killed once this share of the events was accepted. */
	killAtFraction: number;
	/** The whole run, start to report; past it the run aborts. */
	budgetMs: number;
	seed: number;
	keepState: boolean;
	log: (line: string) => void;
}

export const FULL_RUN = {
	events: 2000,
	sendDurationMs: 75_000,
	batches: 4,
	batchSize: 50,
	killAtFraction: 0.5,
	budgetMs: 8 * 60_000,
} as const;

export const SMALL_RUN = {
	events: 300,
	sendDurationMs: 15_000,
	batches: 2,
	batchSize: 20,
	killAtFraction: 0.5,
	budgetMs: 170_000,
} as const;

/** The worker's settings: a compressed schedule (four attempts over 7 s), a short timeout, the sweeper's shortest delay. */
export const CHAOS_VARS: Readonly<Record<string, string>> = {
	ENVIRONMENT: "development",
	RETRY_SCHEDULE: "1,2,4",
	DELIVERY_TIMEOUT_MS: "1500",
	SWEEP_AFTER_SECONDS: "30",
	CIRCUIT_FAILURE_THRESHOLD: "5",
};
/** The first attempt and one per delay of the schedule. */
const MAX_ATTEMPTS = 1 + (CHAOS_VARS.RETRY_SCHEDULE?.split(",").length ?? 0);
const SWEEP_AFTER_MS = Number(CHAOS_VARS.SWEEP_AFTER_SECONDS) * 1000;
const FIRST_PROBE_MS = 30_000;
const RATE_LIMIT = 5;
/** The rate check's tolerance: the limit + 5 %. */
const RATE_TOLERANCE = 1.05;
const SLOW_MS = 1200;
const CRON_EVERY_MS = 15_000;
const POLL_EVERY_MS = 5_000;
const SENDS_IN_FLIGHT = 24;
const EVENT_READS_IN_FLIGHT = 8;

const TYPE_REGULAR = "chaos.regular";
const TYPE_SAMPLED = "chaos.sampled";
const TYPE_RARE = "chaos.rare";
const OPS_TYPES = ["endpoint.failing", "endpoint.recovered", "endpoint.disabled", "delivery.exhausted"] as const;

/** Every 5th event is sampled (the rate-limited endpoint gets those), every 20th rare (the slow one too). */
function eventType(index: number): string {
	if (index % 20 === 0) return TYPE_RARE;
	return index % 5 === 0 ? TYPE_SAMPLED : TYPE_REGULAR;
}

type Role = "healthy" | "flaky" | "slow" | "rate-limited" | "dead" | "gone" | "ops";

interface Endpoint {
	name: string;
	role: Role;
	behaviour: string;
	filters: string[];
	receiver: ChaosReceiver | null;
	url: string;
	extra: Record<string, unknown>;
	id: string;
}

interface SentEvent {
	index: number;
	type: string;
	key: string;
	id: string | null;
	acceptedAt: number | null;
	posts: number;
}

interface Unit {
	events: SentEvent[];
	/** The Idempotency-Key of a batch POST, null for a single event. */
	batchKey: string | null;
}

interface DeliveryView {
	id: string;
	event_id: string;
	event_type: string;
	endpoint_id: string;
	status: "pending" | "success" | "failed";
	attempts: number;
	next_attempt_at: string | null;
	error: string | null;
	created_at: string;
}

interface EventView {
	id: string;
	type: string;
	data: Record<string, unknown>;
	deliveries: DeliveryView[];
}

interface WebhookView {
	id: string;
	active: boolean;
	disabled_reason: string | null;
	updated_at: string;
	circuit?: { state: string; failures_in_a_row: number; next_probe_at: string | null };
}

export type PairState = "delivered" | "failed" | "pending" | "lost";

export interface EndpointRow {
	endpoint: string;
	behaviour: string;
	pairs: number;
	delivered: number;
	failed: number;
	pending: number;
	lost: number;
	requests: number | null;
	distinctIds: number | null;
	/** Requests for an event the receiver had already seen. */
	repeats: number | null;
	/** Requests for an event the receiver had already answered with a 2xx: deliveries made twice. */
	afterSuccess: number | null;
	attemptsMade: number;
	circuit: string;
	active: boolean;
}

export interface Check {
	name: string;
	passed: boolean;
	detail: string;
}

export interface ChaosReport {
	seed: number;
	rows: EndpointRow[];
	checks: Check[];
	timeline: [string, string][];
	/** Up to a few lost pairs, with why, for the failure message. */
	lostExamples: string[];
	failureReasons: [string, number][];
	passed: boolean;
	workDir: string;
	text: string;
}

class ChaosAbort extends Error {}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
	const t0 = Date.now();
	const deadline = t0 + options.budgetMs;
	const log = (line: string): void => options.log(`[chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
	const guard = (phase: string): void => {
		if (Date.now() > deadline) {
			throw new ChaosAbort(`the chaos run exceeded its budget of ${options.budgetMs / 1000} s during ${phase}`);
		}
	};
	const timeline: { at: number; what: string }[] = [];
	const mark = (what: string, detail = "", at = Date.now()): void => {
		timeline.push({ at, what: detail === "" ? what : `${what}: ${detail}` });
	};
	const random = seededRandom(options.seed);

	log(`seed ${options.seed}; ${options.events} events over ${options.sendDurationMs / 1000} s; preparing the worker`);
	const worker = await ChaosWorker.prepare(options.root, CHAOS_VARS);
	const receivers: ChaosReceiver[] = [];
	try {
		const endpoints = await startEndpoints(options, random, receivers);
		await worker.start();
		mark("worker up", `${worker.baseUrl}, state in ${worker.workDir}`);
		log(`worker up at ${worker.baseUrl} (log ${worker.logPath})`);
		const api = new ChaosApi(worker.baseUrl, worker.adminKey);
		for (const endpoint of endpoints) {
			const created = await api.must<{ id: string }>("POST", "/v1/webhooks", 201, {
				url: endpoint.url,
				events: endpoint.filters,
				description: `chaos: ${endpoint.name}`,
				...endpoint.extra,
			});
			endpoint.id = created.id;
		}
		mark("endpoints created", endpoints.map((endpoint) => endpoint.name).join(", "));

		// Sending, with the kill and the restart in the middle of it.
		const sent = planEvents(options);
		const units = planUnits(sent, options);
		const killThreshold = Math.ceil(options.events * options.killAtFraction);
		let killedAt = 0;
		let restartedAt = 0;
		let acceptedAtKill = 0;
		const accepted = (): number => sent.filter((event) => event.id !== null).length;
		let sendingOver = false;
		const killAndRestart = async (): Promise<void> => {
			while (accepted() < killThreshold) {
				// Sending ended (failed) before the kill was due: nothing to kill for.
				if (sendingOver) return;
				guard("sending");
				await sleep(25);
			}
			acceptedAtKill = accepted();
			killedAt = Date.now();
			await worker.kill();
			mark("SIGKILL", `wrangler's process group, after ${acceptedAtKill} of ${options.events} events were accepted`);
			log(`killed the worker (SIGKILL) after ${acceptedAtKill} accepted events; starting it again on the same state`);
			await worker.start();
			restartedAt = Date.now();
			mark("worker up again", `same state and port, ${((restartedAt - killedAt) / 1000).toFixed(1)} s after the kill`);
			log(`worker back after ${((restartedAt - killedAt) / 1000).toFixed(1)} s`);
		};
		log(`sending ${options.events} events (${units.length} POSTs, ${options.batches} of them batches)`);
		const sendStart = Date.now();
		mark("sending starts");
		// Both run to their end before a failure of either is thrown: a restart must not race the cleanup.
		const [sending, killing] = await Promise.allSettled([
			sendUnits(api, units, options, sendStart, guard).finally(() => {
				sendingOver = true;
			}),
			killAndRestart(),
		]);
		if (sending.status === "rejected") throw sending.reason;
		if (killing.status === "rejected") throw killing.reason;
		const lastAcceptedAt = Math.max(...sent.map((event) => event.acceptedAt ?? 0));
		const posts = sent.reduce((sum, event) => sum + event.posts, 0);
		mark(
			"sending done",
			`${accepted()} events accepted in ${posts} POST tries (retried ones kept their Idempotency-Key)`,
		);
		log(`all ${accepted()} events accepted`);

		// Convergence: the sweeper (fired by hand) brings back what the kill lost.
		const byName = new Map(endpoints.map((endpoint) => [endpoint.name, endpoint]));
		const crons: number[] = [];
		let lastCronAt = 0;
		const reserveMs = Math.min(60_000, Math.max(25_000, options.events * 20));
		for (;;) {
			guard("convergence");
			const now = Date.now();
			if (now >= killedAt + SWEEP_AFTER_MS && now - lastCronAt >= CRON_EVERY_MS) {
				lastCronAt = now;
				const status = await worker.fireMinuteCron().catch(() => 0);
				if (status === 200) {
					crons.push(now);
					mark("minute cron fired", "GET /cdn-cgi/local/scheduled?cron=*+*+*+*+*", now);
				} else log(`the minute cron answered ${status}`);
			}
			const progress = await measureProgress(api, endpoints, sent);
			const sweptAll = crons.some((at) => at >= lastAcceptedAt + SWEEP_AFTER_MS + 1000);
			log(`${progress.summary}; ${crons.length} sweeps${sweptAll ? " (all events past the sweep threshold)" : ""}`);
			if (sweptAll && progress.settled && opsSeen(byName)) break;
			if (Date.now() >= deadline - reserveMs) {
				log("stopping convergence to leave time for the accounting");
				break;
			}
			await sleep(POLL_EVERY_MS);
		}
		for (const { at, line } of worker.sweepLines) mark("sweeper", line, at);

		log("accounting for every pair through the API");
		guard("accounting");
		const report = await account({
			api,
			endpoints,
			sent,
			guard,
			killedAt,
			restartedAt,
			acceptedAtKill,
			crons,
		});
		mark("accounting done");
		const full: ChaosReport = {
			...report,
			seed: options.seed,
			timeline: timeline
				.sort((a, b) => a.at - b.at)
				.map(({ at, what }) => [`+${((at - t0) / 1000).toFixed(1)} s`, what]),
			workDir: worker.workDir,
			text: "",
		};
		full.text = renderReport(full);
		return full;
	} catch (error) {
		if (error instanceof ChaosAbort) {
			throw new Error(`${error.message}\n--- wrangler output (tail) ---\n${worker.tail()}`);
		}
		throw error;
	} finally {
		await Promise.all(receivers.map((receiver) => receiver.close()));
		await worker.dispose(options.keepState);
		if (options.keepState) log(`kept ${worker.workDir}`);
	}
}

async function startEndpoints(
	options: ChaosOptions,
	random: () => number,
	receivers: ChaosReceiver[],
): Promise<Endpoint[]> {
	const all = ["chaos.*"];
	const goneAfter = Math.floor(options.events * 0.3);
	const specs: { name: string; role: Role; behaviour: string; filters: string[]; make: Behaviour | null }[] = [
		{ name: "healthy-1", role: "healthy", behaviour: "200", filters: all, make: behaviours.healthy() },
		{ name: "healthy-2", role: "healthy", behaviour: "200", filters: all, make: behaviours.healthy() },
		{
			name: "flaky-1",
			role: "flaky",
			behaviour: "15% 500, 8% 503+RA, 4% reset, 1% hang",
			filters: all,
			make: behaviours.flaky(random, { error500: 0.15, error503: 0.08, reset: 0.04, hang: 0.01 }),
		},
		{
			name: "flaky-2",
			role: "flaky",
			behaviour: "8% 500, 4% 503+RA, 8% reset, 2% hang",
			filters: all,
			make: behaviours.flaky(random, { error500: 0.08, error503: 0.04, reset: 0.08, hang: 0.02 }),
		},
		{
			name: "slow",
			role: "slow",
			behaviour: `200 after ${SLOW_MS} ms`,
			filters: [TYPE_RARE],
			make: behaviours.slow(SLOW_MS),
		},
		{
			name: "rate-limited",
			role: "rate-limited",
			behaviour: `429 above ${RATE_LIMIT}/s`,
			filters: [TYPE_SAMPLED, TYPE_RARE],
			make: behaviours.rateLimited(RATE_LIMIT),
		},
		{ name: "dead", role: "dead", behaviour: "nothing listens", filters: all, make: null },
		{
			name: "gone",
			role: "gone",
			behaviour: `410 after ${goneAfter} requests`,
			filters: all,
			make: behaviours.goneAfter(goneAfter),
		},
		{
			name: "ops",
			role: "ops",
			behaviour: "200, operational events",
			filters: ["endpoint.*", "delivery.exhausted"],
			make: behaviours.healthy(),
		},
	];
	const endpoints: Endpoint[] = [];
	for (const spec of specs) {
		let receiver: ChaosReceiver | null = null;
		let url: string;
		if (spec.make === null) {
			// A port that was free a moment ago and that nothing here listens on: connection refused.
			url = `http://127.0.0.1:${await freePort()}/hooks/${spec.name}`;
		} else {
			receiver = await ChaosReceiver.start(spec.name, spec.make);
			receivers.push(receiver);
			url = receiver.url;
		}
		endpoints.push({
			name: spec.name,
			role: spec.role,
			behaviour: spec.behaviour,
			filters: spec.filters,
			receiver,
			url,
			extra: spec.role === "rate-limited" ? { rate_limit_per_second: RATE_LIMIT } : {},
			id: "",
		});
	}
	return endpoints;
}

function planEvents(options: ChaosOptions): SentEvent[] {
	const run = `chaos-${options.seed}-${Date.now().toString(36)}`;
	return Array.from({ length: options.events }, (_, index) => ({
		index,
		type: eventType(index),
		key: `${run}-e${index}`,
		id: null,
		acceptedAt: null,
		posts: 0,
	}));
}

/** Single POSTs, with the batches spread evenly among them. */
function planUnits(sent: SentEvent[], options: ChaosOptions): Unit[] {
	const batchEvents = Math.min(options.batches * options.batchSize, sent.length);
	const batches = options.batchSize > 0 ? Math.floor(batchEvents / options.batchSize) : 0;
	const singles = sent.length - batches * options.batchSize;
	const unitCount = singles + batches;
	const batchAt = new Set(Array.from({ length: batches }, (_, k) => Math.floor(((k + 0.5) * unitCount) / batches)));
	const units: Unit[] = [];
	let next = 0;
	for (let u = 0; u < unitCount; u++) {
		if (batchAt.has(u)) {
			const events = sent.slice(next, next + options.batchSize);
			next += options.batchSize;
			const batchKey = `${events[0]?.key ?? "batch"}-batch`;
			events.forEach((event, j) => {
				event.key = `${batchKey}#${j}`;
			});
			units.push({ events, batchKey });
		} else {
			const event = sent[next++];
			if (event) units.push({ events: [event], batchKey: null });
		}
	}
	return units;
}

/**
 * Sends the units on an even timeline, at most SENDS_IN_FLIGHT at once. A
 * POST that gets no answer (the worker was killed under it) or a 5xx is
 * sent again with the same Idempotency-Key until it is accepted, as a
 * sender that cannot know whether the first one was stored must do.
 */
async function sendUnits(
	api: ChaosApi,
	units: readonly Unit[],
	options: ChaosOptions,
	start: number,
	guard: (phase: string) => void,
): Promise<void> {
	const spacing = options.sendDurationMs / Math.max(1, units.length);
	const running = new Set<Promise<void>>();
	// The first error ends the sending; the POSTs in flight finish first, so nothing is left running.
	let failure: unknown = null;
	const post = (unit: Unit) =>
		unit.batchKey === null
			? api.send("POST", "/v1/events", {
					json: { type: unit.events[0]?.type, data: dataOf(unit.events[0]) },
					headers: { "idempotency-key": unit.events[0]?.key ?? "" },
					timeoutMs: 10_000,
				})
			: api.send("POST", "/v1/events/batch", {
					json: { events: unit.events.map((event) => ({ type: event.type, data: dataOf(event) })) },
					headers: { "idempotency-key": unit.batchKey },
					timeoutMs: 20_000,
				});
	const sendOne = async (unit: Unit): Promise<void> => {
		while (failure === null) {
			try {
				guard("sending");
			} catch (error) {
				failure = error;
				return;
			}
			for (const event of unit.events) event.posts++;
			// No answer at all (refused or reset while the worker is down, or a timeout): send it again.
			const answer = await post(unit).catch(() => null);
			if (answer?.status === 202) {
				const ids =
					unit.batchKey === null
						? [(answer.json as { id: string }).id]
						: (answer.json as { events: { id: string }[] }).events.map((event) => event.id);
				const now = Date.now();
				unit.events.forEach((event, j) => {
					event.id = ids[j] ?? null;
					event.acceptedAt = now;
				});
				return;
			}
			if (answer !== null && answer.status < 500 && answer.status !== 429) {
				failure = new Error(
					`POST of event ${unit.events[0]?.index} → HTTP ${answer.status} ${answer.text.slice(0, 300)}`,
				);
				return;
			}
			await sleep(500);
		}
	};
	for (const [u, unit] of units.entries()) {
		const wait = start + u * spacing - Date.now();
		if (wait > 0) await sleep(wait);
		while (running.size >= SENDS_IN_FLIGHT) await Promise.race(running);
		if (failure !== null) break;
		const promise: Promise<void> = sendOne(unit).finally(() => running.delete(promise));
		running.add(promise);
	}
	await Promise.all(running);
	if (failure !== null) throw failure;
}

function dataOf(event: SentEvent | undefined): Record<string, unknown> {
	return { index: event?.index ?? -1, note: "chaos run" };
}

function matches(filters: readonly string[], type: string): boolean {
	return filters.some((filter) =>
		filter === "*" ? true : filter.endsWith(".*") ? type.startsWith(filter.slice(0, -1)) : filter === type,
	);
}

interface Progress {
	summary: string;
	settled: boolean;
}

/**
 * Where delivery stands, from each endpoint's delivery log: settled once
 * every endpoint has a row for each of its pairs and nothing pending, except
 * what an open circuit holds (it waits for a probe) and, on the 410
 * endpoint, what was never fanned out to it once it was disabled.
 */
async function measureProgress(
	api: ChaosApi,
	endpoints: readonly Endpoint[],
	sent: readonly SentEvent[],
): Promise<Progress> {
	let recordedTotal = 0;
	let expectedTotal = 0;
	let pendingTotal = 0;
	let settled = true;
	const notes: string[] = [];
	for (const endpoint of endpoints) {
		const [rows, hook] = await Promise.all([
			api.listAll<DeliveryView>(`/v1/webhooks/${endpoint.id}/deliveries`, "deliveries"),
			api.must<WebhookView>("GET", `/v1/webhooks/${endpoint.id}`, 200),
		]);
		const pending = rows.filter((row) => row.status === "pending").length;
		const circuit = hook.circuit?.state ?? "closed";
		if (endpoint.role === "ops") {
			if (pending > 0) settled = false;
			continue;
		}
		const expected = sent.filter((event) => event.id !== null && matches(endpoint.filters, event.type)).length;
		recordedTotal += rows.length;
		expectedTotal += endpoint.role === "gone" ? rows.length : expected;
		pendingTotal += pending;
		const complete = endpoint.role === "gone" ? !hook.active : rows.length >= expected;
		const quiet = pending === 0 || circuit !== "closed";
		if (!complete || !quiet) {
			settled = false;
			notes.push(`${endpoint.name} ${rows.length}/${expected}${pending > 0 ? ` (${pending} pending)` : ""}`);
		}
	}
	const summary = `pairs recorded ${recordedTotal}/${expectedTotal}, ${pendingTotal} pending${notes.length > 0 ? `; waiting for ${notes.join(", ")}` : "; settled"}`;
	return { summary, settled };
}

/** Whether the operational events the checks look for have arrived. */
function opsSeen(byName: Map<string, Endpoint>): boolean {
	const arrivals = byName.get("ops")?.receiver?.arrivals ?? [];
	return (
		arrivals.some((arrival) => arrival.bodyType === "endpoint.failing") &&
		arrivals.some((arrival) => arrival.bodyType === "endpoint.disabled")
	);
}

interface AccountInput {
	api: ChaosApi;
	endpoints: Endpoint[];
	sent: SentEvent[];
	guard: (phase: string) => void;
	killedAt: number;
	restartedAt: number;
	acceptedAtKill: number;
	crons: number[];
}

type Accounted = Pick<ChaosReport, "rows" | "checks" | "lostExamples" | "failureReasons" | "passed">;

interface Pair {
	endpoint: Endpoint;
	eventId: string;
	state: PairState;
	why: string;
	delivery: DeliveryView | null;
}

/** Classifies one pair as the API shows it. */
function classify(delivery: DeliveryView | undefined, sweptAt: number | null): { state: PairState; why: string } {
	if (delivery === undefined) return { state: "lost", why: "missing from the event's deliveries" };
	if (delivery.status === "success") return { state: "delivered", why: "" };
	if (delivery.status === "failed") {
		return delivery.error !== null && delivery.error !== ""
			? { state: "failed", why: delivery.error }
			: { state: "lost", why: "failed without a reason" };
	}
	if (delivery.next_attempt_at === null) return { state: "lost", why: "pending without a due time" };
	// The queued placeholder: no row was ever written, the API shows the event's own time as the due time.
	const placeholder = delivery.attempts === 0 && delivery.next_attempt_at === delivery.created_at;
	if (placeholder && sweptAt !== null && Date.parse(delivery.created_at) + SWEEP_AFTER_MS < sweptAt) {
		return { state: "lost", why: "still the queued placeholder after the sweeper ran" };
	}
	return { state: "pending", why: "" };
}

async function account(input: AccountInput): Promise<Accounted> {
	const { api, endpoints, sent } = input;
	const byName = new Map(endpoints.map((endpoint) => [endpoint.name, endpoint]));
	const byId = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
	const lastSweep = input.crons.at(-1) ?? null;

	const hooks = new Map<string, WebhookView>();
	for (const endpoint of endpoints) {
		hooks.set(endpoint.name, await api.must<WebhookView>("GET", `/v1/webhooks/${endpoint.id}`, 200));
	}
	const goneHook = hooks.get("gone");
	const goneDisabledAt = goneHook && !goneHook.active ? Date.parse(goneHook.updated_at) : Number.POSITIVE_INFINITY;

	// Every chaos event, as GET /v1/events/:id shows it.
	const views = new Map<string, EventView>();
	const acceptedEvents = sent.filter((event): event is SentEvent & { id: string } => event.id !== null);
	await inPool(acceptedEvents, EVENT_READS_IN_FLIGHT, async (event) => {
		input.guard("accounting");
		views.set(event.id, await api.must<EventView>("GET", `/v1/events/${event.id}`, 200));
	});

	const pairs: Pair[] = [];
	let unexpectedPairs = 0;
	let skippedGone = 0;
	for (const event of acceptedEvents) {
		const view = views.get(event.id);
		const listed = new Map((view?.deliveries ?? []).map((delivery) => [delivery.endpoint_id, delivery]));
		for (const delivery of view?.deliveries ?? []) {
			const endpoint = byId.get(delivery.endpoint_id);
			if (!endpoint || !matches(endpoint.filters, event.type)) unexpectedPairs++;
		}
		for (const endpoint of endpoints) {
			if (endpoint.role === "ops" || !matches(endpoint.filters, event.type)) continue;
			const delivery = listed.get(endpoint.id);
			// Once disabled, the 410 endpoint is no longer a subscriber: later events are not fanned out to it.
			if (delivery === undefined && endpoint.role === "gone" && (event.acceptedAt ?? 0) >= goneDisabledAt) {
				skippedGone++;
				continue;
			}
			pairs.push({ endpoint, eventId: event.id, delivery: delivery ?? null, ...classify(delivery, lastSweep) });
		}
	}

	// Operational events, counted apart: every one stored is a pair for the ops endpoint.
	const ops = byName.get("ops");
	const opsEvents: { id: string; type: string; data: Record<string, unknown> }[] = [];
	for (const type of OPS_TYPES) {
		opsEvents.push(
			...(await api.listAll<{ id: string; type: string; data: Record<string, unknown> }>(
				`/v1/events?type=${type}`,
				"events",
			)),
		);
	}
	if (ops) {
		await inPool(opsEvents, EVENT_READS_IN_FLIGHT, async (event) => {
			const view = await api.must<EventView>("GET", `/v1/events/${event.id}`, 200);
			const delivery = view.deliveries.find((candidate) => candidate.endpoint_id === ops.id);
			pairs.push({ endpoint: ops, eventId: event.id, delivery: delivery ?? null, ...classify(delivery, lastSweep) });
		});
	}

	// What the receivers saw.
	const rows: EndpointRow[] = endpoints.map((endpoint) => {
		const own = pairs.filter((pair) => pair.endpoint === endpoint);
		const arrivals = endpoint.receiver?.arrivals ?? null;
		const seen = arrivals === null ? null : receiverStats(arrivals);
		return {
			endpoint: endpoint.name,
			behaviour: endpoint.behaviour,
			pairs: own.length,
			delivered: own.filter((pair) => pair.state === "delivered").length,
			failed: own.filter((pair) => pair.state === "failed").length,
			pending: own.filter((pair) => pair.state === "pending").length,
			lost: own.filter((pair) => pair.state === "lost").length,
			requests: arrivals?.length ?? null,
			distinctIds: seen?.distinct ?? null,
			repeats: seen === null || arrivals === null ? null : arrivals.length - seen.distinct,
			afterSuccess: seen?.afterSuccess ?? null,
			attemptsMade: own.reduce((sum, pair) => sum + (pair.delivery?.attempts ?? 0), 0),
			circuit: hooks.get(endpoint.name)?.circuit?.state ?? "?",
			active: hooks.get(endpoint.name)?.active ?? false,
		};
	});

	const checks: Check[] = [];
	const check = (name: string, passed: boolean, detail: string): void => {
		checks.push({ name, passed, detail });
	};

	// Sender side: every event accepted once, none stored twice by the retried POSTs.
	const storedChaos: string[] = [];
	for (const type of [TYPE_REGULAR, TYPE_SAMPLED, TYPE_RARE]) {
		storedChaos.push(
			...(await api.listAll<{ id: string }>(`/v1/events?type=${type}`, "events")).map((event) => event.id),
		);
	}
	const acceptedIds = new Set(acceptedEvents.map((event) => event.id));
	const retried = sent.filter((event) => event.posts > 1).length;
	check(
		"every event accepted, each stored once",
		acceptedIds.size === sent.length &&
			storedChaos.length === sent.length &&
			storedChaos.every((id) => acceptedIds.has(id)),
		`${acceptedIds.size}/${sent.length} accepted (${retried} after a retried POST), ${storedChaos.length} stored`,
	);

	const counted = (state: PairState): number => pairs.filter((pair) => pair.state === state).length;
	const pendingPairs = pairs.filter((pair) => pair.state === "pending");
	const now = Date.now();
	const pastDue = pendingPairs.filter((pair) => Date.parse(pair.delivery?.next_attempt_at ?? "") < now).length;
	const held = pendingPairs.filter((pair) => pair.delivery?.attempts === 0).length;
	const queued = pendingPairs.filter(
		(pair) => pair.delivery?.attempts === 0 && pair.delivery.next_attempt_at === pair.delivery.created_at,
	).length;
	check(
		"every pair delivered, failed with a reason, or pending with a due time",
		counted("lost") === 0,
		`${pairs.length} pairs: ${counted("delivered")} delivered, ${counted("failed")} failed, ${counted("pending")} pending (${held} never attempted, ${queued} of them still queued, ${pastDue} with their due time passed)${skippedGone > 0 ? `; ${skippedGone} events came after the 410 endpoint was disabled and were not fanned out to it` : ""}`,
	);
	const lostPairs = pairs.filter((pair) => pair.state === "lost");
	check("0 pairs lost", lostPairs.length === 0, `${lostPairs.length} lost`);
	check(
		"fan-out to exactly the subscribers",
		unexpectedPairs === 0,
		`${unexpectedPairs} deliveries to non-subscribers`,
	);

	const mismatched = endpoints.flatMap((endpoint) =>
		(endpoint.receiver?.arrivals ?? []).filter(
			(arrival) =>
				arrival.webhookId === "" || arrival.webhookId !== arrival.bodyId || arrival.xWebhookId !== arrival.webhookId,
		),
	);
	const repeats = rows.reduce((sum, row) => sum + (row.repeats ?? 0), 0);
	const twice = rows.reduce((sum, row) => sum + (row.afterSuccess ?? 0), 0);
	check(
		"every duplicate carries the same webhook-id",
		mismatched.length === 0,
		`${repeats} repeated requests (${twice} after a 2xx); ${mismatched.length} requests whose webhook-id differs from the event id`,
	);

	const answered2xx = new Map(
		endpoints.map((endpoint) => [
			endpoint,
			new Set(
				(endpoint.receiver?.arrivals ?? [])
					.filter((arrival) => arrival.answer.startsWith("2"))
					.map((arrival) => arrival.bodyId),
			),
		]),
	);
	const unseen = pairs.filter(
		(pair) =>
			pair.state === "delivered" &&
			pair.endpoint.receiver !== null &&
			answered2xx.get(pair.endpoint)?.has(pair.eventId) !== true,
	);
	check(
		"every delivered pair reached its receiver with a 2xx",
		unseen.length === 0,
		`${unseen.length} delivered pairs the receiver never answered 2xx`,
	);

	const wrongType = endpoints.flatMap((endpoint) =>
		(endpoint.receiver?.arrivals ?? []).filter((arrival) => !matches(endpoint.filters, arrival.bodyType)),
	);
	check(
		"receivers got only their subscribed types",
		wrongType.length === 0,
		`${wrongType.length} requests of other types`,
	);

	const limited = byName.get("rate-limited")?.receiver?.arrivals ?? [];
	const busiest = busiestSecond(limited);
	const got429 = limited.filter((arrival) => arrival.answer === "429").length;
	check(
		`rate-limited receiver ≤ ${RATE_LIMIT} + 5 % in any second`,
		busiest <= RATE_LIMIT * RATE_TOLERANCE,
		`at most ${busiest} requests in any 1 s window (${limited.length} requests, ${got429} answered 429)`,
	);

	const dead = byName.get("dead");
	const deadRow = rows.find((row) => row.endpoint === "dead");
	const deadCircuit = hooks.get("dead")?.circuit?.state ?? "?";
	const scheduleAlone = (deadRow?.pairs ?? 0) * MAX_ATTEMPTS;
	const deadFailing = await firstFailingEvent(api, dead?.id);
	const probeCheck = dead ? await attemptsAfterOpen(api, pairs, dead, deadFailing) : null;
	check(
		"dead endpoint: circuit opened, no more than the probes",
		(deadCircuit === "open" || deadCircuit === "half_open") &&
			(deadRow?.attemptsMade ?? 0) < scheduleAlone &&
			probeCheck !== null &&
			probeCheck.after <= probeCheck.allowed,
		probeCheck === null
			? `circuit ${deadCircuit}; no endpoint.failing event for it`
			: `circuit ${deadCircuit}; ${deadRow?.attemptsMade ?? 0} attempts for ${deadRow?.pairs ?? 0} pairs (schedule alone: ${scheduleAlone}); ${probeCheck.before} before it opened, ${probeCheck.after} after (probes allowed: ${probeCheck.allowed})`,
	);

	check(
		"410 endpoint disabled",
		goneHook !== undefined && !goneHook.active && /410/.test(goneHook.disabled_reason ?? ""),
		`active ${goneHook?.active}, reason: ${goneHook?.disabled_reason ?? "none"}`,
	);

	const opsArrivals = byName.get("ops")?.receiver?.arrivals ?? [];
	const opsOf = (type: string, endpointId?: string): number =>
		opsEvents.filter(
			(event) =>
				event.type === type &&
				(endpointId === undefined || event.data.endpoint_id === endpointId) &&
				opsArrivals.some((arrival) => arrival.bodyId === event.id),
		).length;
	const exhaustedPairs = pairs.filter(
		(pair) => pair.endpoint.role !== "ops" && pair.state === "failed" && (pair.delivery?.attempts ?? 0) >= MAX_ATTEMPTS,
	).length;
	const typeCounts = OPS_TYPES.map((type) => `${type} ${opsOf(type)}`).join(", ");
	check(
		"operational events arrived",
		opsOf("endpoint.failing", dead?.id) > 0 &&
			opsOf("endpoint.disabled", byName.get("gone")?.id) > 0 &&
			(exhaustedPairs === 0 || opsOf("delivery.exhausted") > 0),
		`received ${typeCounts} (stored ${opsEvents.length}); ${exhaustedPairs} chaos pairs exhausted their attempts`,
	);

	const killShare = input.acceptedAtKill / Math.max(1, sent.length);
	check(
		"killed midway and restarted on the same state",
		input.killedAt > 0 &&
			input.restartedAt > input.killedAt &&
			killShare > 0.05 &&
			killShare < 0.95 &&
			input.crons.length > 0,
		`SIGKILL after ${input.acceptedAtKill}/${sent.length} events, back in ${((input.restartedAt - input.killedAt) / 1000).toFixed(1)} s; ${input.crons.length} sweeps after`,
	);

	const reasons = new Map<string, number>();
	for (const pair of pairs) {
		if (pair.state !== "failed") continue;
		const reason = `${pair.endpoint.name}: ${pair.why.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>").slice(0, 90)}`;
		reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
	}
	return {
		rows,
		checks,
		lostExamples: lostPairs
			.slice(0, 10)
			.map((pair) => `${pair.endpoint.name} ${pair.eventId}: ${pair.why} ${JSON.stringify(pair.delivery)}`),
		failureReasons: [...reasons].sort((a, b) => b[1] - a[1]),
		passed: checks.every((entry) => entry.passed),
	};
}

function receiverStats(arrivals: readonly Arrival[]): { distinct: number; afterSuccess: number } {
	const seen = new Set<string>();
	const succeeded = new Set<string>();
	let afterSuccess = 0;
	for (const arrival of arrivals) {
		if (succeeded.has(arrival.bodyId)) afterSuccess++;
		seen.add(arrival.bodyId);
		if (arrival.answer.startsWith("2")) succeeded.add(arrival.bodyId);
	}
	return { distinct: seen.size, afterSuccess };
}

/** The most requests that arrived within any one-second window. */
function busiestSecond(arrivals: readonly Arrival[]): number {
	const times = arrivals.map((arrival) => arrival.at).sort((a, b) => a - b);
	let most = 0;
	let start = 0;
	for (let end = 0; end < times.length; end++) {
		while ((times[end] ?? 0) - (times[start] ?? 0) >= 1000) start++;
		most = Math.max(most, end - start + 1);
	}
	return most;
}

async function firstFailingEvent(api: ChaosApi, endpointId: string | undefined): Promise<{ openedAt: number } | null> {
	if (endpointId === undefined) return null;
	const events = await api.listAll<{ data: Record<string, unknown> }>("/v1/events?type=endpoint.failing", "events");
	const first = events.find((event) => event.data.endpoint_id === endpointId);
	const nextProbe = first?.data.next_probe_at;
	if (typeof nextProbe !== "string") return null;
	return { openedAt: Date.parse(nextProbe) - FIRST_PROBE_MS };
}

/**
 * The dead endpoint's attempts before and after its circuit opened. After
 * it, only probes may go out: one at 30 s, then at doubling intervals (each
 * failed probe doubles the wait). Attempts admitted before the opening and
 * still in flight at that moment (a batch runs to its end) count as before.
 */
async function attemptsAfterOpen(
	api: ChaosApi,
	pairs: readonly Pair[],
	dead: Endpoint,
	failing: { openedAt: number } | null,
): Promise<{ before: number; after: number; allowed: number } | null> {
	if (failing === null) return null;
	const tried = pairs.filter((pair) => pair.endpoint === dead && (pair.delivery?.attempts ?? 0) > 0);
	const starts: number[] = [];
	await inPool(tried, EVENT_READS_IN_FLIGHT, async (pair) => {
		const detail = await api.must<{ attempts: { started_at: string }[] }>(
			"GET",
			`/v1/deliveries/${pair.delivery?.id}`,
			200,
		);
		for (const attempt of detail.attempts) starts.push(Date.parse(attempt.started_at));
	});
	const inFlightSlackMs = 5_000;
	const after = starts.filter((at) => at > failing.openedAt + inFlightSlackMs).length;
	let allowed = 0;
	for (
		let interval = FIRST_PROBE_MS, at = failing.openedAt + interval;
		at <= Date.now();
		interval *= 2, at += interval
	) {
		allowed++;
	}
	// One probe more: a probe whose outcome was lost in the kill is retried once it goes stale.
	return { before: starts.length - after, after, allowed: allowed + 1 };
}
