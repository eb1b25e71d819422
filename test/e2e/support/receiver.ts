import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { done, notYet, type Poll, waitFor } from "./wait";

/** One request as the receiver saw it, body kept byte for byte. */
export interface ReceivedRequest {
	/** 0 for the first request this receiver got, 1 for the second, … */
	index: number;
	method: string;
	path: string;
	/** Lower-cased names; repeated headers joined with ", ". */
	headers: Record<string, string>;
	rawBody: Buffer;
	/** `rawBody` decoded as UTF-8. */
	body: string;
	receivedAt: number;
}

/** What to answer: a status (and body), or never answer at all. */
export type Reply = { status: number; body?: string } | { hang: true };

export type Responder = (request: ReceivedRequest) => Reply;

/**
 * A webhook receiver on 127.0.0.1 (port chosen by the OS) that records every
 * request and answers as its responder says: by default 200 "OK".
 */
export class Receiver {
	readonly requests: ReceivedRequest[] = [];
	private responder: Responder = () => ({ status: 200, body: "OK" });
	private readonly server: Server;
	private origin = "";

	private constructor() {
		this.server = createServer((req, res) => {
			this.handle(req, res);
		});
	}

	/** Starts a receiver and resolves once it listens. */
	static async start(): Promise<Receiver> {
		const receiver = new Receiver();
		await new Promise<void>((resolve, reject) => {
			receiver.server.once("error", reject);
			receiver.server.listen(0, "127.0.0.1", () => {
				resolve();
			});
		});
		const address = receiver.server.address() as AddressInfo;
		receiver.origin = `http://127.0.0.1:${address.port}`;
		return receiver;
	}

	/** The URL to register as the endpoint. */
	get url(): string {
		return `${this.origin}/webhook`;
	}

	respondWith(responder: Responder): void {
		this.responder = responder;
	}

	/** Requests whose `webhook-id` header is `eventId`. */
	requestsFor(eventId: string): ReceivedRequest[] {
		return this.requests.filter((request) => request.headers["webhook-id"] === eventId);
	}

	/** Resolves with the first `count` requests once that many arrived. */
	async waitForRequests(count: number, timeoutMs = 20_000): Promise<ReceivedRequest[]> {
		return waitFor(
			`${count} request(s) at ${this.url}`,
			(): Poll<ReceivedRequest[]> =>
				this.requests.length >= count
					? done(this.requests.slice(0, count))
					: notYet(`${this.requests.length} request(s)`),
			{ timeoutMs, intervalMs: 50 },
		);
	}

	/** Stops listening and drops connections, including ones left hanging on purpose. */
	async close(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => {
			this.server.close(() => {
				resolve();
			});
		});
	}

	private handle(req: IncomingMessage, res: ServerResponse): void {
		onWholeRequest(req, this.requests.length, (request) => {
			this.requests.push(request);
			let reply: Reply;
			try {
				reply = this.responder(request);
			} catch {
				reply = { status: 599, body: "responder threw" };
			}
			if ("hang" in reply) {
				return;
			}
			res.writeHead(reply.status, { "content-type": "text/plain" });
			res.end(reply.body ?? "");
		});
	}
}

/** Reads a whole request, body byte for byte, and hands it on as it was received. */
export function onWholeRequest(req: IncomingMessage, index: number, handle: (request: ReceivedRequest) => void): void {
	const chunks: Buffer[] = [];
	req.on("data", (chunk: Buffer) => {
		chunks.push(chunk);
	});
	req.on("end", () => {
		const rawBody = Buffer.concat(chunks);
		const headers: Record<string, string> = {};
		for (const [name, value] of Object.entries(req.headers)) {
			if (value !== undefined) {
				headers[name] = Array.isArray(value) ? value.join(", ") : value;
			}
		}
		handle({
			index,
			method: req.method ?? "",
			path: req.url ?? "",
			headers,
			rawBody,
			body: rawBody.toString("utf8"),
			receivedAt: Date.now(),
		});
	});
}

/** Starts `count` receivers. */
export async function startReceivers(count: number): Promise<Receiver[]> {
	return Promise.all(Array.from({ length: count }, () => Receiver.start()));
}
