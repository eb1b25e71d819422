import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A request as a receiver saw it: which event (webhook-id) and when (performance.now()). */
export interface Arrival {
	eventId: string;
	at: number;
	/** 1 for the first request of this event at this endpoint, 2 for the next, … */
	nth: number;
}

/** What an endpoint answers: a status, or nothing at all until the worker gives up. */
export type Reply = number | "hang";

/** Decides the answer from the event id and how many times this endpoint has now seen it. */
export type Behaviour = (eventId: string, nth: number) => Reply;

export const ALWAYS_OK: Behaviour = () => 200;

/** One webhook endpoint: a path on a receiver server with its own answers and arrival log. */
export class ReceiverEndpoint {
	readonly arrivals: Arrival[] = [];
	private readonly seen = new Map<string, number>();

	constructor(
		readonly url: string,
		private readonly behaviour: Behaviour,
	) {}

	/** Records the request and returns what to answer. */
	take(eventId: string, at: number): Reply {
		const nth = (this.seen.get(eventId) ?? 0) + 1;
		this.seen.set(eventId, nth);
		this.arrivals.push({ eventId, at, nth });
		return this.behaviour(eventId, nth);
	}

	/** Distinct events that arrived at least once. */
	get distinctEvents(): number {
		return this.seen.size;
	}
}

/**
 * An HTTP server on 127.0.0.1 hosting many endpoints, one per path. It reads
 * only the webhook-id header and discards the body, so that receiving stays
 * cheap next to the worker on a small machine.
 */
export class ReceiverServer {
	private readonly endpoints = new Map<string, ReceiverEndpoint>();
	private readonly hanging = new Set<ServerResponse>();
	private origin = "";
	private nextId = 0;
	/** Every request received, across endpoints, including unknown paths. */
	total = 0;
	unknown = 0;

	private constructor(private readonly server: Server) {}

	static async start(): Promise<ReceiverServer> {
		let instance: ReceiverServer | undefined;
		const server = createServer((req, res) => instance?.handle(req, res));
		instance = new ReceiverServer(server);
		server.keepAliveTimeout = 30_000;
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(0, "127.0.0.1", () => resolve());
		});
		const address = server.address() as AddressInfo;
		instance.origin = `http://127.0.0.1:${address.port}`;
		return instance;
	}

	/** Adds an endpoint with its own path; register `endpoint.url` with the worker. */
	add(label: string, behaviour: Behaviour = ALWAYS_OK): ReceiverEndpoint {
		const path = `/r/${label}-${this.nextId++}`;
		const endpoint = new ReceiverEndpoint(`${this.origin}${path}`, behaviour);
		this.endpoints.set(path, endpoint);
		return endpoint;
	}

	/** Answers the requests left hanging, so the next scenario starts clean. */
	releaseHanging(): void {
		for (const res of this.hanging) res.destroy();
		this.hanging.clear();
	}

	async close(): Promise<void> {
		this.releaseHanging();
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}

	private handle(req: IncomingMessage, res: ServerResponse): void {
		const at = performance.now();
		this.total++;
		const header = req.headers["webhook-id"];
		const eventId = Array.isArray(header) ? (header[0] ?? "") : (header ?? "");
		const endpoint = this.endpoints.get(req.url ?? "");
		const reply: Reply = endpoint === undefined ? 404 : endpoint.take(eventId, at);
		if (endpoint === undefined) this.unknown++;
		req.resume();
		req.on("end", () => {
			if (reply === "hang") {
				this.hanging.add(res);
				res.on("close", () => this.hanging.delete(res));
				return;
			}
			res.writeHead(reply, { "content-type": "text/plain", "content-length": "2" });
			res.end(reply >= 200 && reply < 300 ? "OK" : "NO");
		});
	}
}
