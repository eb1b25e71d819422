import { closedLoop } from "../lib/load";
import { fmt, progress } from "../lib/log";
import { ReceiverServer } from "../lib/receiver";
import { round } from "../lib/stats";
import { LocalWorker } from "../lib/worker";
import { INGEST_CONFIG, type RouteResult, RouteRuns } from "./ingest";

/**
 * The least any worker must do per accepted event, measured the way the
 * ingest scenario measures Edgehook: bench/floor/worker.js under `wrangler
 * dev`, the same load generator, concurrency and rounds, against its own
 * /healthz. Its ratios bound what ingest can reach on this machine: storing
 * an event (grouped, as Edgehook does) and, with a subscriber, sending it
 * once more over HTTP, with nothing else of a webhook service in the way.
 */
export interface FloorConfig {
	concurrency: number;
	/** Requests per route and round. */
	requestsPerRound: number;
	maxMsPerRound: number;
	rounds: number;
}

export const FLOOR_CONFIG: FloorConfig = {
	concurrency: INGEST_CONFIG.concurrency,
	requestsPerRound: 1000,
	maxMsPerRound: INGEST_CONFIG.maxMs / INGEST_CONFIG.rounds,
	rounds: INGEST_CONFIG.rounds,
};

const ROUTES = ["/healthz", "/store", "/store-and-send"] as const;
type FloorRoute = (typeof ROUTES)[number];

export interface FloorResult {
	concurrency: number;
	rounds: number;
	healthz: RouteResult;
	store: RouteResult;
	store_and_send: RouteResult;
	/** /store against /healthz: the bound of ingest without a subscriber. */
	store_ratio: number | null;
	/** /store-and-send against /healthz: the bound of ingest with one subscriber. */
	store_and_send_ratio: number | null;
	/** Requests the receiver got from /store-and-send, the warm-up's included. */
	sent_on: number;
}

export async function runFloor(root: string, config: FloorConfig = FLOOR_CONFIG): Promise<FloorResult> {
	const receivers = await ReceiverServer.start();
	const receiver = receivers.add("floor");
	let worker: LocalWorker | null = null;
	try {
		worker = await LocalWorker.startFixture(root, "bench/floor", { RECEIVER_URL: receiver.url }, progress);
		const client = worker.client;
		const setup = await client.send("POST", "/setup");
		if (setup.status !== 200) throw new Error(`the floor worker's POST /setup answered ${setup.status}`);
		let counter = 0;
		const request = (route: FloorRoute) => async (): Promise<number> =>
			route === "/healthz"
				? (await client.send("GET", route)).status
				: (await client.send("POST", route, { type: "floor", data: { n: counter++, bench: true } })).status;

		progress(
			`floor: bench/floor/worker.js, concurrency ${config.concurrency}, ${config.rounds} alternating rounds of ` +
				`${config.requestsPerRound} requests per route`,
		);
		for (const route of ROUTES) {
			await closedLoop({ concurrency: config.concurrency, maxRequests: 200, maxMs: 10_000, request: request(route) });
		}
		const runs: Record<FloorRoute, RouteRuns> = {
			"/healthz": new RouteRuns(),
			"/store": new RouteRuns(),
			"/store-and-send": new RouteRuns(),
		};
		const loop = {
			concurrency: config.concurrency,
			maxRequests: config.requestsPerRound,
			maxMs: config.maxMsPerRound,
		};
		for (let roundIndex = 1; roundIndex <= config.rounds; roundIndex++) {
			for (const route of ROUTES) await runs[route].measure(worker, loop, request(route));
		}
		const healthz = runs["/healthz"].result();
		const store = runs["/store"].result();
		const storeAndSend = runs["/store-and-send"].result();
		const ratio = (rps: number | null): number | null =>
			rps !== null && healthz.rps !== null && healthz.rps > 0 ? round(rps / healthz.rps, 3) : null;
		for (const [label, result] of [
			["GET /healthz", healthz],
			["POST /store", store],
			["POST /store-and-send", storeAndSend],
		] as const) {
			progress(
				`  ${label}: ${fmt(result.rps, 0)} req/s, ratio ${fmt(ratio(result.rps), 2)}, ` +
					`workerd CPU ${fmt(result.workerd_cpu_ms_per_request, 2)} ms/request, statuses ${JSON.stringify(result.statuses)}`,
			);
		}
		return {
			concurrency: config.concurrency,
			rounds: config.rounds,
			healthz,
			store,
			store_and_send: storeAndSend,
			store_ratio: ratio(store.rps),
			store_and_send_ratio: ratio(storeAndSend.rps),
			sent_on: receiver.arrivals.length,
		};
	} finally {
		await worker?.stop();
		await receivers.close();
	}
}
