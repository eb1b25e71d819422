import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "./http";
import { fmt, progress } from "./log";
import { type Behaviour, type ReceiverEndpoint, ReceiverServer } from "./receiver";
import { type WorkerConstants, workerConstants } from "./source-constants";
import { type LocalWorker, type Metrics, sameMetrics } from "./worker";

/** An endpoint registered with the worker and the receiver path behind it. */
export interface BenchEndpoint {
	id: string;
	receiver: ReceiverEndpoint;
}

export interface EndpointOptions {
	retry_schedule?: number[];
	timeout_ms?: number;
	ordering?: "ordered" | "unordered";
	rate_limit_per_second?: number;
}

/** An endpoint's circuit breaker as GET /v1/webhooks/:id shows it. */
export interface CircuitView {
	state: "closed" | "open" | "half_open";
	since: string;
	failures_in_a_row: number;
	next_probe_at: string | null;
	last_status_code: number | null;
	last_error: string | null;
}

/** An accepted event: its id and when the request left and the 202 came back (performance.now()). */
export interface SentEvent {
	id: string;
	startedAt: number;
	acceptedAt: number;
}

/** What every scenario gets: the worker, a receiver server and API helpers. */
export class BenchContext {
	readonly client: Client;
	private metricsKnown: boolean | undefined;

	private constructor(
		readonly worker: LocalWorker,
		readonly receivers: ReceiverServer,
		/** The worker's own thresholds and intervals, read from the source it runs. */
		readonly constants: WorkerConstants,
	) {
		this.client = worker.client;
	}

	static async create(worker: LocalWorker): Promise<BenchContext> {
		return new BenchContext(worker, await ReceiverServer.start(), workerConstants(worker.appDir));
	}

	/** A fresh event type, so that endpoints of other scenarios never match. */
	eventType(scenario: string): string {
		return `bench.${scenario}.${randomBytes(3).toString("hex")}`;
	}

	async createEndpoints(
		count: number,
		eventType: string,
		label: string,
		behaviour?: Behaviour,
		options: EndpointOptions = {},
		server: ReceiverServer = this.receivers,
	): Promise<BenchEndpoint[]> {
		const endpoints: BenchEndpoint[] = [];
		// A few at a time: creation is set-up, not load.
		for (let start = 0; start < count; start += 8) {
			const batch = await Promise.all(
				Array.from({ length: Math.min(8, count - start) }, async () => {
					const receiver = server.add(label, behaviour);
					const created = await this.client.json<{ id: string }>("POST", "/v1/webhooks", 201, {
						url: receiver.url,
						events: [eventType],
						...options,
					});
					return { id: created.id, receiver };
				}),
			);
			endpoints.push(...batch);
		}
		return endpoints;
	}

	/** The endpoint's circuit breaker (GET /v1/webhooks/:id). */
	async circuit(endpoint: BenchEndpoint): Promise<CircuitView> {
		const read = await this.client.json<{ circuit?: CircuitView }>("GET", `/v1/webhooks/${endpoint.id}`, 200);
		if (read.circuit === undefined) throw new Error(`GET /v1/webhooks/${endpoint.id} shows no circuit`);
		return read.circuit;
	}

	/** PATCH /v1/webhooks/:id with `patch`; throws unless the answer is 200. */
	async updateEndpoint(endpoint: BenchEndpoint, patch: EndpointOptions): Promise<void> {
		await this.client.json("PATCH", `/v1/webhooks/${endpoint.id}`, 200, patch);
	}

	/** Deletes endpoints (which cancels their pending retries); best effort. */
	async deleteEndpoints(endpoints: readonly BenchEndpoint[]): Promise<void> {
		for (let start = 0; start < endpoints.length; start += 8) {
			await Promise.all(
				endpoints
					.slice(start, start + 8)
					.map((endpoint) => this.client.send("DELETE", `/v1/webhooks/${endpoint.id}`).catch(() => undefined)),
			);
		}
	}

	/** POST /v1/events; throws unless the answer is 202. */
	async sendEvent(type: string, index: number): Promise<SentEvent> {
		const exchange = await this.client.send("POST", "/v1/events", { type, data: { n: index, bench: true } });
		if (exchange.status !== 202) {
			throw new Error(`POST /v1/events → HTTP ${exchange.status}: ${exchange.body.slice(0, 300)}`);
		}
		const { id } = JSON.parse(exchange.body) as { id: string };
		return { id, startedAt: exchange.startedAt, acceptedAt: exchange.endedAt };
	}

	/** The metering counters, or null when the worker has no /_bench routes. */
	async metrics(): Promise<Metrics | null> {
		const metrics = await this.worker.metrics();
		this.metricsKnown = metrics !== null;
		return metrics;
	}

	get hasMetrics(): boolean {
		return this.metricsKnown === true;
	}

	/**
	 * Waits until the worker is idle: with metering, the queue has consumed
	 * every message sent and no counter moved for `quietMs`; without it, no
	 * request reached the receivers for `quietMs`. Returns whether it got idle.
	 */
	async settle(label: string, timeoutMs = 30_000, quietMs = 1_000): Promise<boolean> {
		const deadline = performance.now() + timeoutMs;
		let previous: Metrics | null = await this.metrics();
		let previousTotal = this.receivers.total;
		let quietSince = performance.now();
		let lastReport = performance.now();
		while (performance.now() < deadline) {
			await sleep(250);
			const current = await this.metrics();
			const total = this.receivers.total;
			const drained = current === null || current.queue_messages_consumed >= current.queue_messages_sent;
			const unchanged =
				total === previousTotal && (current === null || previous === null || sameMetrics(current, previous));
			if (!unchanged || !drained) quietSince = performance.now();
			if (performance.now() - quietSince >= quietMs) return true;
			if (performance.now() - lastReport >= 5_000) {
				lastReport = performance.now();
				const queue =
					current === null
						? ""
						: `, queue ${fmt(current.queue_messages_sent - current.queue_messages_consumed, 0)} unconsumed`;
				progress(`  ${label}: waiting for the worker to go idle (${total} requests at receivers${queue})`);
			}
			previous = current;
			previousTotal = total;
		}
		progress(`  ${label}: the worker was still busy after ${fmt(timeoutMs / 1000, 0)} s; going on`);
		return false;
	}
}
