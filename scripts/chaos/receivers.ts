/**
 * Receivers for the chaos run, each an HTTP server of its own on 127.0.0.1
 * that records every request (arrival time, `webhook-id`, the event id and
 * type in the body) and answers as its behaviour says: a status, possibly
 * late; a connection reset; or no answer at all.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** How long a hanging request is held before its socket is dropped: far past any attempt timeout. */
const HANG_MS = 20_000;

export type Action =
	| { kind: "reply"; status: number; retryAfter?: number; delayMs?: number }
	| { kind: "reset" }
	| { kind: "hang" };

export interface Arrival {
	at: number;
	webhookId: string;
	xWebhookId: string;
	/** `id` and `type` of the JSON body, "" when missing. */
	bodyId: string;
	bodyType: string;
	/** What the receiver did: the status it answered, "reset" or "hang". */
	answer: string;
}

/** What a behaviour knows when it decides: this receiver's request count and its recent arrivals. */
export interface Situation {
	/** 0 for the receiver's first request. */
	index: number;
	/** Requests that arrived in the last second, this one included. */
	inLastSecond: number;
}

export type Behaviour = (situation: Situation) => Action;

export class ChaosReceiver {
	readonly arrivals: Arrival[] = [];
	private readonly hanging = new Set<ServerResponse>();
	private origin = "";

	private constructor(
		readonly name: string,
		private readonly server: Server,
		private readonly behaviour: Behaviour,
	) {}

	static async start(name: string, behaviour: Behaviour): Promise<ChaosReceiver> {
		let instance: ChaosReceiver | undefined;
		const server = createServer((req, res) => instance?.handle(req, res));
		instance = new ChaosReceiver(name, server, behaviour);
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(0, "127.0.0.1", () => resolve());
		});
		instance.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
		return instance;
	}

	get url(): string {
		return `${this.origin}/hooks/${this.name}`;
	}

	async close(): Promise<void> {
		for (const res of this.hanging) res.destroy();
		this.hanging.clear();
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}

	private handle(req: IncomingMessage, res: ServerResponse): void {
		const chunks: Buffer[] = [];
		req.on("data", (chunk: Buffer) => chunks.push(chunk));
		req.on("end", () => {
			const at = Date.now();
			let inLastSecond = 1;
			for (let i = this.arrivals.length - 1; i >= 0; i--) {
				const earlier = this.arrivals[i];
				if (earlier === undefined || at - earlier.at >= 1000) break;
				inLastSecond++;
			}
			const action = this.behaviour({ index: this.arrivals.length, inLastSecond });
			const body = parseBody(Buffer.concat(chunks).toString("utf8"));
			this.arrivals.push({
				at,
				webhookId: header(req, "webhook-id"),
				xWebhookId: header(req, "x-webhook-id"),
				bodyId: body.id,
				bodyType: body.type,
				answer: action.kind === "reply" ? String(action.status) : action.kind,
			});
			this.act(action, req, res);
		});
	}

	private act(action: Action, req: IncomingMessage, res: ServerResponse): void {
		if (action.kind === "reset") {
			// A TCP RST, not a clean close: what a crashing receiver or a middlebox does.
			req.socket.resetAndDestroy();
			return;
		}
		if (action.kind === "hang") {
			this.hanging.add(res);
			setTimeout(() => {
				this.hanging.delete(res);
				res.destroy();
			}, HANG_MS).unref();
			return;
		}
		const reply = (): void => {
			const headers: Record<string, string> = { "content-type": "text/plain" };
			if (action.retryAfter !== undefined) headers["retry-after"] = String(action.retryAfter);
			res.writeHead(action.status, headers);
			res.end(action.status < 300 ? "ok" : "chaos");
		};
		if (action.delayMs === undefined) reply();
		else setTimeout(reply, action.delayMs).unref();
	}
}

function header(req: IncomingMessage, name: string): string {
	const value = req.headers[name];
	return Array.isArray(value) ? value.join(", ") : (value ?? "");
}

function parseBody(text: string): { id: string; type: string } {
	try {
		const parsed = JSON.parse(text) as { id?: unknown; type?: unknown };
		return {
			id: typeof parsed.id === "string" ? parsed.id : "",
			type: typeof parsed.type === "string" ? parsed.type : "",
		};
	} catch {
		return { id: "", type: "" };
	}
}

/** A small seeded generator (mulberry32), so a run's chaos can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

export const behaviours = {
	healthy: (): Behaviour => () => ({ kind: "reply", status: 200 }),
	/** Each answer drawn at random: 500, 503 with Retry-After, a reset, a hang, or 200. */
	flaky:
		(random: () => number, mix: { error500: number; error503: number; reset: number; hang: number }): Behaviour =>
		() => {
			const r = random();
			let edge = mix.error500;
			if (r < edge) return { kind: "reply", status: 500 };
			edge += mix.error503;
			if (r < edge) return { kind: "reply", status: 503, retryAfter: 2 };
			edge += mix.reset;
			if (r < edge) return { kind: "reset" };
			edge += mix.hang;
			if (r < edge) return { kind: "hang" };
			return { kind: "reply", status: 200 };
		},
	slow:
		(delayMs: number): Behaviour =>
		() => ({ kind: "reply", status: 200, delayMs }),
	/** 429 with Retry-After: 1 whenever more than `perSecond` requests arrived in the trailing second. */
	rateLimited:
		(perSecond: number): Behaviour =>
		({ inLastSecond }) =>
			inLastSecond > perSecond ? { kind: "reply", status: 429, retryAfter: 1 } : { kind: "reply", status: 200 },
	/** 200 for its first `okRequests` requests, 410 Gone from then on. */
	goneAfter:
		(okRequests: number): Behaviour =>
		({ index }) => ({ kind: "reply", status: index < okRequests ? 200 : 410 }),
};
