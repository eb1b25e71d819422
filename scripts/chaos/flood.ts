/**
 * The flood run (`npm run chaos -- --flood`): how long recovery takes after a
 * kill at a high ingest rate. The real worker under `wrangler dev` gets batch
 * ingest (100 events a POST) at a target rate for a bounded time, healthy
 * receivers on 127.0.0.1 (one endpoint per event type, so fan-out 1), and is
 * killed with SIGKILL as soon as the sending stops, while most of what it
 * accepted is still in its in-memory queue. It is started again on the same
 * state, the minute cron is fired by hand on every wall-clock minute (as the
 * `* * * * *` trigger does in production; `wrangler dev` fires none), and
 * the run waits until every accepted event has arrived at least once, or
 * gives up after a bound and says what is left.
 *
 * Not part of `npm test`: it runs for minutes and keeps both cores busy.
 */

import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { ChaosApi } from "./api";
import { behaviours, ChaosReceiver } from "./receivers";
import { table } from "./report";
import { CHAOS_VARS } from "./run";
import { ChaosWorker, type QueueBatch } from "./worker";

export interface FloodOptions {
	/** The project root (where wrangler.toml is). */
	root: string;
	/** Events per second offered. */
	rate: number;
	/** How long the sending lasts; nothing new is sent past it. */
	sendSeconds: number;
	/** Healthy endpoints, each subscribed to an event type of its own. */
	endpoints: number;
	/** Batch POSTs in flight at most: past it the sender waits, and the achieved rate falls below the offered one. */
	inFlight: number;
	/** How long after the restart the run waits for every accepted event before giving up. */
	giveUpMs: number;
	keepState: boolean;
	log: (line: string) => void;
}

export const FLOOD_DEFAULTS = {
	rate: 4000,
	sendSeconds: 20,
	endpoints: 2,
	inFlight: 12,
	giveUpMs: 15 * 60_000,
} as const;

/** The largest batch POST /v1/events/batch takes. */
const BATCH_EVENTS = 100;
/** Issue 15's goal: every lost first attempt re-sent within this long. */
const RECOVERY_GOAL_MS = 5 * 60_000;
const POLL_EVERY_MS = 5_000;
const MINUTE_MS = 60_000;
/** Watching on after the last event arrived, for duplicates a later sweep may still send. */
const DUPLICATE_WATCH_MS = 15_000;
const POST_TIMEOUT_MS = 30_000;

export interface FloodReport {
	passed: boolean;
	text: string;
	workDir: string;
}

/** Per event id: when it first arrived at a receiver, and how many times it did. */
class ArrivalLedger {
	readonly firstAt = new Map<string, number>();
	readonly times = new Map<string, number>();
	private readonly read = new Map<ChaosReceiver, number>();

	constructor(private readonly receivers: readonly ChaosReceiver[]) {}

	/** Takes in the arrivals since the last call. */
	update(): void {
		for (const receiver of this.receivers) {
			const from = this.read.get(receiver) ?? 0;
			for (let i = from; i < receiver.arrivals.length; i++) {
				const arrival = receiver.arrivals[i];
				if (arrival === undefined) continue;
				if (!this.firstAt.has(arrival.bodyId)) this.firstAt.set(arrival.bodyId, arrival.at);
				this.times.set(arrival.bodyId, (this.times.get(arrival.bodyId) ?? 0) + 1);
			}
			this.read.set(receiver, receiver.arrivals.length);
		}
	}

	get requests(): number {
		let sum = 0;
		for (const receiver of this.receivers) sum += receiver.arrivals.length;
		return sum;
	}
}

interface Sending {
	/** Accepted event id → when its batch was answered 202. */
	accepted: Map<string, number>;
	batchesPlanned: number;
	batchesSent: number;
	/** Batches answered otherwise, by status ("no answer" for a network error or timeout). */
	refused: Map<string, number>;
	startedAt: number;
	/** When the last POST was answered. */
	endedAt: number;
	latenciesMs: number[];
	/** Times the sender waited for a free slot (the in-flight bound was reached). */
	stalls: number;
}

/** Batch POSTs on an even timeline at the offered rate, at most `inFlight` at once, for `sendSeconds`. */
async function flood(api: ChaosApi, types: readonly string[], options: FloodOptions): Promise<Sending> {
	const startedAt = Date.now();
	const stopAt = startedAt + options.sendSeconds * 1000;
	const spacingMs = (1000 * BATCH_EVENTS) / options.rate;
	const sending: Sending = {
		accepted: new Map(),
		batchesPlanned: Math.floor((options.sendSeconds * 1000) / spacingMs),
		batchesSent: 0,
		refused: new Map(),
		startedAt,
		endedAt: startedAt,
		latenciesMs: [],
		stalls: 0,
	};
	const refuse = (why: string): void => {
		sending.refused.set(why, (sending.refused.get(why) ?? 0) + 1);
	};
	const postBatch = async (batch: number): Promise<void> => {
		const events = Array.from({ length: BATCH_EVENTS }, (_, j) => {
			const index = batch * BATCH_EVENTS + j;
			return { type: types[index % types.length], data: { batch, index, note: "flood run" } };
		});
		const sentAt = Date.now();
		const answer = await api
			.send("POST", "/v1/events/batch", { json: { events }, timeoutMs: POST_TIMEOUT_MS })
			.catch(() => null);
		const answeredAt = Date.now();
		sending.latenciesMs.push(answeredAt - sentAt);
		sending.endedAt = Math.max(sending.endedAt, answeredAt);
		if (answer === null) {
			refuse("no answer");
			return;
		}
		if (answer.status !== 202) {
			refuse(`HTTP ${answer.status}`);
			return;
		}
		for (const event of (answer.json as { events: { id: string }[] }).events) {
			sending.accepted.set(event.id, answeredAt);
		}
	};
	const running = new Set<Promise<void>>();
	for (let batch = 0; batch < sending.batchesPlanned; batch++) {
		const wait = startedAt + batch * spacingMs - Date.now();
		if (wait > 0) await sleep(wait);
		if (running.size >= options.inFlight) sending.stalls++;
		while (running.size >= options.inFlight) await Promise.race(running);
		if (Date.now() >= stopAt) break;
		const promise: Promise<void> = postBatch(batch).finally(() => running.delete(promise));
		running.add(promise);
		sending.batchesSent++;
	}
	await Promise.all(running);
	return sending;
}

interface CronRun {
	at: number;
	status: number;
	tookMs: number;
}

interface SweepReport {
	at: number;
	requeued: number;
	scanned: number;
	stuck: number;
	slices: number;
}

function parseSweepLine(at: number, line: string): SweepReport | null {
	const match =
		/requeued (\d+) lost first attempts \((\d+) events scanned\) and (\d+) stuck retries; (\d+) slices/.exec(line);
	if (!match) return null;
	return {
		at,
		requeued: Number(match[1]),
		scanned: Number(match[2]),
		stuck: Number(match[3]),
		slices: Number(match[4]),
	};
}

interface HealthSample {
	at: number;
	mainBacklog: number | null;
}

async function mainBacklog(api: ChaosApi): Promise<number | null> {
	try {
		const answer = await api.send("GET", "/v1/health", { timeoutMs: 10_000 });
		const body = answer.json as { queues?: { deliveries?: { backlog_messages?: number | null } } } | undefined;
		return body?.queues?.deliveries?.backlog_messages ?? null;
	} catch {
		return null;
	}
}

function percentile(values: readonly number[], share: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))] ?? 0;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const count = (n: number): string => n.toLocaleString("en-US");
const load = (): string =>
	loadavg()
		.map((value) => value.toFixed(2))
		.join(" / ");

export async function runFlood(options: FloodOptions): Promise<FloodReport> {
	const t0 = Date.now();
	const log = (line: string): void => options.log(`[flood +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
	const timeline: { at: number; what: string }[] = [];
	const mark = (what: string, at = Date.now()): void => {
		timeline.push({ at, what });
	};
	const loadAtStart = load();
	log(
		`${options.rate} events/s offered for ${options.sendSeconds} s to ${options.endpoints} endpoints; load average ${loadAtStart}; preparing the worker`,
	);
	const worker = await ChaosWorker.prepare(options.root, CHAOS_VARS);
	const receivers: ChaosReceiver[] = [];
	const crons = new Set<Promise<void>>();
	try {
		for (let i = 1; i <= options.endpoints; i++) {
			receivers.push(await ChaosReceiver.start(`flood-${i}`, behaviours.healthy()));
		}
		await worker.start();
		mark(`worker up at ${worker.baseUrl}, state in ${worker.workDir}`);
		log(`worker up at ${worker.baseUrl} (log ${worker.logPath})`);
		const api = new ChaosApi(worker.baseUrl, worker.adminKey);
		const types: string[] = [];
		for (const [i, receiver] of receivers.entries()) {
			const type = `flood.e${i + 1}`;
			await api.must("POST", "/v1/webhooks", 201, {
				url: receiver.url,
				events: [type],
				description: `flood: ${receiver.name}`,
			});
			types.push(type);
		}
		const ledger = new ArrivalLedger(receivers);

		log(`sending for ${options.sendSeconds} s`);
		mark("sending starts");
		const sending = await flood(api, types, options);
		// Over the whole sending window at least: the last batch is due one spacing before its end.
		const sendMs = Math.max(sending.endedAt - sending.startedAt, options.sendSeconds * 1000);
		const achieved = sending.accepted.size / Math.max(0.001, sendMs / 1000);
		mark(
			`sending done: ${count(sending.accepted.size)} events accepted in ${sending.batchesSent} batch POSTs, ${achieved.toFixed(0)} events/s`,
			sending.endedAt,
		);
		log(`${count(sending.accepted.size)} events accepted at ${achieved.toFixed(0)} events/s; killing the worker`);

		const killedAt = Date.now();
		await worker.kill();
		const killDoneAt = Date.now();
		ledger.update();
		mark("SIGKILL to wrangler's process group", killedAt);
		let deliveredBeforeKill = 0;
		for (const id of sending.accepted.keys()) {
			const at = ledger.firstAt.get(id);
			// Until the group is gone, a request on its way out still reaches its receiver.
			if (at !== undefined && at <= killDoneAt) deliveredBeforeKill++;
		}
		const lost = [...sending.accepted.keys()].filter((id) => {
			const at = ledger.firstAt.get(id);
			return at === undefined || at > killDoneAt;
		});
		const requestsBeforeKill = ledger.requests;
		const loadAtKill = load();
		log(`${count(deliveredBeforeKill)} delivered before the kill, ${count(lost.length)} lost; restarting`);

		await worker.start();
		const restartedAt = Date.now();
		mark(`worker up again on the same state and port, ${seconds(restartedAt - killedAt)} after the kill`);
		log(`worker back after ${seconds(restartedAt - killedAt)}`);

		const cronRuns: CronRun[] = [];
		const fireCron = async (): Promise<void> => {
			const at = Date.now();
			const status = await worker.fireMinuteCron().catch(() => 0);
			cronRuns.push({ at, status, tookMs: Date.now() - at });
		};
		let nextCronAt = Math.ceil(restartedAt / MINUTE_MS) * MINUTE_MS;
		const samples: HealthSample[] = [];
		const giveUpAt = restartedAt + options.giveUpMs;
		let allArrivedAt: number | null = null;
		let lastRecovered = 0;
		let lastPollAt = restartedAt;
		for (;;) {
			const now = Date.now();
			if (now >= nextCronAt) {
				// Not awaited here: a run that takes long under load must not hold up the next minute's, nor the polling.
				const run: Promise<void> = fireCron().finally(() => crons.delete(run));
				crons.add(run);
				mark("minute cron fired (GET /cdn-cgi/local/scheduled?cron=*+*+*+*+*)", now);
				nextCronAt += MINUTE_MS;
			}
			ledger.update();
			const recovered = lost.filter((id) => ledger.firstAt.has(id)).length;
			const backlog = await mainBacklog(api);
			samples.push({ at: Date.now(), mainBacklog: backlog });
			const perSecond = (recovered - lastRecovered) / Math.max(0.001, (Date.now() - lastPollAt) / 1000);
			lastRecovered = recovered;
			lastPollAt = Date.now();
			log(
				`+${seconds(Date.now() - restartedAt)} after restart: ${count(recovered)}/${count(lost.length)} lost events arrived (${perSecond.toFixed(0)}/s), main queue backlog ${backlog ?? "?"}, ${cronRuns.length} crons answered`,
			);
			if (recovered === lost.length && allArrivedAt === null) {
				allArrivedAt = lost.reduce((latest, id) => Math.max(latest, ledger.firstAt.get(id) ?? 0), restartedAt);
				mark("every accepted event has arrived at least once", allArrivedAt);
			}
			if (allArrivedAt !== null && Date.now() >= allArrivedAt + DUPLICATE_WATCH_MS) break;
			if (Date.now() >= giveUpAt) {
				log(`giving up after ${seconds(options.giveUpMs)}`);
				break;
			}
			await sleep(Math.max(0, Math.min(POLL_EVERY_MS, nextCronAt - Date.now())));
		}
		await Promise.allSettled([...crons]);
		ledger.update();

		const sweeps = worker.sweepLines
			.map(({ at, line }) => parseSweepLine(at, line))
			.filter((entry): entry is SweepReport => entry !== null);
		for (const sweep of sweeps) {
			mark(
				`sweeper: ${count(sweep.requeued)} first attempts requeued (${count(sweep.scanned)} events scanned), ${sweep.slices} slices handed to the consumers, ${sweep.stuck} stuck retries`,
				sweep.at,
			);
		}
		const text = render({
			options,
			sending,
			achieved,
			deliveredBeforeKill,
			requestsBeforeKill,
			lost,
			ledger,
			killedAt,
			killDoneAt,
			restartedAt,
			allArrivedAt,
			cronRuns,
			queueBatches: worker.queueBatches,
			sweeps,
			samples,
			loads: { start: loadAtStart, kill: loadAtKill, end: load() },
			timeline: timeline.sort((a, b) => a.at - b.at).map(({ at, what }) => [`+${seconds(at - t0)}`, what]),
		});
		return { passed: allArrivedAt !== null, text, workDir: worker.workDir };
	} finally {
		await Promise.allSettled([...crons]);
		await Promise.all(receivers.map((receiver) => receiver.close()));
		await worker.dispose(options.keepState);
		if (options.keepState) log(`kept ${worker.workDir}`);
	}
}

interface Measured {
	options: FloodOptions;
	sending: Sending;
	achieved: number;
	deliveredBeforeKill: number;
	requestsBeforeKill: number;
	lost: readonly string[];
	ledger: ArrivalLedger;
	killedAt: number;
	/** When the last process of wrangler's group was gone. */
	killDoneAt: number;
	restartedAt: number;
	allArrivedAt: number | null;
	cronRuns: readonly CronRun[];
	queueBatches: readonly QueueBatch[];
	sweeps: readonly SweepReport[];
	samples: readonly HealthSample[];
	loads: { start: string; kill: string; end: string };
	timeline: [string, string][];
}

function render(m: Measured): string {
	const { options, sending, ledger, restartedAt } = m;
	const accepted = sending.accepted.size;
	const afterRestart = (at: number): string => `+${seconds(at - restartedAt)} after the restart`;

	const arrivedIds = [...sending.accepted.keys()].filter((id) => ledger.firstAt.has(id)).length;
	const recoveredTimes = m.lost
		.map((id) => ledger.firstAt.get(id))
		.filter((at): at is number => at !== undefined)
		.sort((a, b) => a - b);
	const firstRecovered = recoveredTimes[0];
	const lastRecovered = recoveredTimes.at(-1);
	const recoveryRate =
		firstRecovered !== undefined && lastRecovered !== undefined && lastRecovered > firstRecovered
			? recoveredTimes.length / ((lastRecovered - firstRecovered) / 1000)
			: null;
	const deliveryRateBeforeKill = m.deliveredBeforeKill / Math.max(0.001, (m.killedAt - sending.startedAt) / 1000);

	let requests = 0;
	let repeats = 0;
	let repeatsOfEarly = 0;
	let unknown = 0;
	for (const [id, times] of ledger.times) {
		requests += times;
		if (!sending.accepted.has(id)) unknown++;
		if (times > 1) {
			repeats += times - 1;
			if ((ledger.firstAt.get(id) ?? Number.POSITIVE_INFINITY) <= m.killDoneAt) repeatsOfEarly += times - 1;
		}
	}

	const withSlices = m.sweeps.filter((sweep) => sweep.slices > 0);
	const lastSlices = withSlices.at(-1);
	const firstCron = m.cronRuns[0];
	const cronTook = m.cronRuns.map((run) => run.tookMs);
	const cronFailures = m.cronRuns.filter((run) => run.status !== 200).length;
	const backlogs = m.samples.filter(
		(sample): sample is { at: number; mainBacklog: number } => sample.mainBacklog !== null,
	);
	const peak = backlogs.reduce<{ at: number; mainBacklog: number } | null>(
		(best, sample) => (best === null || sample.mainBacklog > best.mainBacklog ? sample : best),
		null,
	);
	const recoveryEnd = m.allArrivedAt ?? Date.now();
	// The consumer's time from the first sweep that found lost work: before it, nothing was due to be re-sent.
	const firstFind = m.sweeps.find((sweep) => sweep.requeued > 0 || sweep.slices > 0);
	const consumer = consumerWork(m.queueBatches, firstFind?.at ?? restartedAt, recoveryEnd);
	const refused = [...sending.refused].map(([why, n]) => `${n} ${why}`).join(", ");
	const missing = accepted - arrivedIds;

	const figures: [string, string][] = [
		[
			"offered",
			`${count(options.rate)} events/s for ${options.sendSeconds} s: ${count(sending.batchesPlanned)} batch POSTs of ${BATCH_EVENTS}, at most ${options.inFlight} in flight`,
		],
		[
			"accepted (202)",
			`${count(accepted)} events in ${count(sending.batchesSent)} POSTs${refused === "" ? "" : `; refused: ${refused}`}`,
		],
		[
			"achieved ingest rate",
			`${m.achieved.toFixed(0)} events/s over ${seconds(Math.max(sending.endedAt - sending.startedAt, options.sendSeconds * 1000))} (POST p50 ${percentile(sending.latenciesMs, 0.5)} ms, p99 ${percentile(sending.latenciesMs, 0.99)} ms; the in-flight bound held the sender ${sending.stalls} times)`,
		],
		[
			"delivered before the kill",
			`${count(m.deliveredBeforeKill)} events (${deliveryRateBeforeKill.toFixed(0)}/s while ingest ran; ${count(m.requestsBeforeKill)} requests)`,
		],
		["lost at the kill", `${count(m.lost.length)} accepted events not yet delivered`],
		["restart", `${seconds(restartedAt - m.killedAt)} from the SIGKILL to /healthz answering`],
		[
			"minute crons",
			firstCron === undefined
				? "none fired"
				: `${m.cronRuns.length} fired on the minute, the first ${afterRestart(firstCron.at)}; each took ${Math.min(...cronTook)}–${Math.max(...cronTook)} ms${cronFailures > 0 ? `; ${cronFailures} answered other than 200` : ""}`,
		],
		[
			"slices handed out",
			lastSlices === undefined
				? "no cron handed out slices"
				: `${withSlices.reduce((sum, sweep) => sum + sweep.slices, 0)} slices of 500 seqs by ${withSlices.length} cron runs, the last ${afterRestart(lastSlices.at)}; the crons' own walks requeued ${count(m.sweeps.reduce((sum, sweep) => sum + sweep.requeued, 0))} first attempts`,
		],
		[
			"main queue backlog",
			peak === null
				? "not reported"
				: `peak ${count(peak.mainBacklog)} messages ${afterRestart(peak.at)}; ${count(backlogs.at(-1)?.mainBacklog ?? 0)} at the end`,
		],
		[
			"where the time went",
			firstFind === undefined
				? "no sweep found lost work"
				: `${seconds(firstFind.at - restartedAt)} until a cron found the lost events overdue (older than SWEEP_AFTER_SECONDS=${CHAOS_VARS.SWEEP_AFTER_SECONDS}); ${seconds(recoveryEnd - firstFind.at)} from then until ${m.allArrivedAt === null ? "the run gave up" : "the last one arrived"}`,
		],
		["local consumer in that second part", consumer.length === 0 ? "no queue batches reported" : consumer.join("; ")],
		[
			"lost events re-sent",
			firstRecovered === undefined || lastRecovered === undefined
				? "none arrived"
				: `${count(recoveredTimes.length)} arrived, the first ${afterRestart(firstRecovered)}, the last ${afterRestart(lastRecovered)}${recoveryRate === null ? "" : `; ${recoveryRate.toFixed(0)}/s between them`}`,
		],
		[
			"every accepted event arrived",
			m.allArrivedAt === null
				? `not within ${seconds(options.giveUpMs)} of the restart: ${count(missing)} never arrived`
				: `${afterRestart(m.allArrivedAt)} (${seconds(m.allArrivedAt - m.killedAt)} after the kill)`,
		],
		[
			"duplicates",
			`${count(repeats)} repeated requests (${count(repeatsOfEarly)} of events that had arrived before the kill was through) in ${count(requests)}; ${unknown} arrivals of ids never answered 202`,
		],
		["load average (1/5/15 min)", `start ${m.loads.start}; at the kill ${m.loads.kill}; end ${m.loads.end}`],
	];

	const withinGoal = m.allArrivedAt !== null && m.allArrivedAt - restartedAt <= RECOVERY_GOAL_MS;
	const checks: [string, string, string][] = [
		[
			"every accepted event arrived at least once",
			m.allArrivedAt === null ? "FAIL" : "pass",
			`${count(arrivedIds)}/${count(accepted)} within ${seconds(options.giveUpMs)} of the restart`,
		],
		[
			"every lost event re-sent within 5 min of the restart (issue 15's goal; reported, does not fail the run)",
			withinGoal ? "met" : "missed",
			m.allArrivedAt === null ? "not all arrived" : seconds(m.allArrivedAt - restartedAt),
		],
	];
	return [
		`Flood run: ${count(options.rate)} events/s offered for ${options.sendSeconds} s, ${options.endpoints} healthy endpoints (fan-out 1), SIGKILL when the sending stopped`,
		"",
		table(["when", "what"], m.timeline),
		"",
		table(["measure", "value"], figures),
		"",
		table(["check", "result", "detail"], checks),
		"",
		m.allArrivedAt === null ? "Some accepted events never arrived." : "Every accepted event arrived.",
	].join("\n");
}

/** Per queue: the batches the local consumer finished in [from, to], their messages and its busy time. */
function consumerWork(batches: readonly QueueBatch[], from: number, to: number): string[] {
	const byQueue = new Map<string, { batches: number; messages: number; unacked: number; ms: number }>();
	for (const batch of batches) {
		if (batch.at < from || batch.at > to) continue;
		const sum = byQueue.get(batch.queue) ?? { batches: 0, messages: 0, unacked: 0, ms: 0 };
		sum.batches++;
		sum.messages += batch.messages;
		sum.unacked += batch.messages - batch.acked;
		sum.ms += batch.ms;
		byQueue.set(batch.queue, sum);
	}
	const span = Math.max(1, to - from);
	return [...byQueue].map(
		([queue, sum]) =>
			`${queue}: ${count(sum.batches)} batches (${(sum.ms / sum.batches).toFixed(0)} ms each on average), ${count(sum.messages)} messages (${count(sum.unacked)} not acked), busy ${seconds(sum.ms)} (${((100 * sum.ms) / span).toFixed(0)} % of the time), ${(sum.messages / (span / 1000)).toFixed(0)} messages/s`,
	);
}
