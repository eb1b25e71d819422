/**
 * A stand-in for a chat service's incoming-webhook URL (Slack, Discord) on
 * 127.0.0.1: it records each request, checks its JSON body against the
 * service's documented limits with the validator it is given, and answers the
 * way the service does: its success answer when the body is valid, its error
 * answer (a 400) when it is not. A test can also queue one-off answers (a 429
 * with `Retry-After`) that are given before any check.
 *
 * `support/receiver.ts` cannot send response headers, which the 429 needs,
 * so this has a server of its own; it reads requests with the same helper.
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { onWholeRequest, type ReceivedRequest } from "./receiver";
import { done, notYet, type Poll, waitFor } from "./wait";

export interface ChatReply {
	status: number;
	headers?: Record<string, string>;
	body?: string;
}

/** One request, what the validator found wrong with it, and what it was answered. */
export interface ChatRequest extends ReceivedRequest {
	/** The body parsed as JSON; undefined when it is not JSON. */
	json: unknown;
	/** Every way the request breaks the service's documented rules; empty when it is valid. */
	problems: string[];
	reply: ChatReply;
}

export interface ChatService {
	/** For messages: "Slack", "Discord". */
	name: string;
	/** Every documented rule the body breaks; the request's method and content type are checked apart. */
	validate: (body: unknown) => string[];
	/** What the service answers a valid message. */
	accepted: ChatReply;
	/** What it answers an invalid one. */
	refused: (problems: string[]) => ChatReply;
}

export class ChatReceiver {
	readonly requests: ChatRequest[] = [];
	private readonly queued: ChatReply[] = [];
	private readonly server: Server;
	private origin = "";

	private constructor(
		private readonly service: ChatService,
		private readonly path: string,
	) {
		this.server = createServer((req, res) => {
			onWholeRequest(req, this.requests.length, (base) => {
				const request = this.judge(base);
				this.requests.push(request);
				res.writeHead(request.reply.status, {
					"content-type": "text/plain; charset=utf-8",
					...request.reply.headers,
				});
				res.end(request.reply.body ?? "");
			});
		});
	}

	/** Starts a receiver for `service` that listens on `path` (the shape of the service's webhook URLs). */
	static async start(service: ChatService, path: string): Promise<ChatReceiver> {
		const receiver = new ChatReceiver(service, path);
		await new Promise<void>((resolve, reject) => {
			receiver.server.once("error", reject);
			receiver.server.listen(0, "127.0.0.1", () => {
				resolve();
			});
		});
		receiver.origin = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
		return receiver;
	}

	get url(): string {
		return `${this.origin}${this.path}`;
	}

	/** The next request gets `reply` whatever it holds (after the ones queued before). */
	replyOnce(reply: ChatReply): void {
		this.queued.push(reply);
	}

	requestsFor(eventId: string): ChatRequest[] {
		return this.requests.filter((request) => request.headers["webhook-id"] === eventId);
	}

	/** Resolves with the first `count` requests for `eventId` once they arrived. */
	async waitForEvent(eventId: string, count = 1, timeoutMs = 20_000): Promise<ChatRequest[]> {
		return waitFor(
			`${count} ${this.service.name} request(s) for ${eventId} at ${this.url}`,
			(): Poll<ChatRequest[]> => {
				const matching = this.requestsFor(eventId);
				return matching.length >= count
					? done(matching.slice(0, count))
					: notYet(`${matching.length} for it, ${this.requests.length} in all`);
			},
			{ timeoutMs, intervalMs: 50 },
		);
	}

	async close(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => {
			this.server.close(() => {
				resolve();
			});
		});
	}

	private judge(base: ReceivedRequest): ChatRequest {
		let json: unknown;
		const problems: string[] = [];
		if (base.method !== "POST") problems.push(`method is ${base.method}, not POST`);
		if (base.path !== this.path) problems.push(`path is ${base.path}, not ${this.path}`);
		if (!/^application\/json\b/i.test(base.headers["content-type"] ?? "")) {
			problems.push(`content-type is ${JSON.stringify(base.headers["content-type"])}, not application/json`);
		}
		try {
			json = JSON.parse(base.body);
			problems.push(...this.service.validate(json));
		} catch {
			problems.push("the body is not JSON");
		}
		const queued = this.queued.shift();
		const reply = queued ?? (problems.length === 0 ? this.service.accepted : this.service.refused(problems));
		return { ...base, json, problems, reply };
	}
}

// Shared by the validators.

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Length as the services count "characters". Counted in UTF-16 code units,
 * the larger of the two plausible counts (code units, code points), so a
 * text within it is within the limit whichever count the service uses.
 */
export function textLength(text: string): number {
	return text.length;
}

/** A problem when `value` is not a string of `min`..`max` characters; `where` names it. */
export function checkString(value: unknown, where: string, min: number, max: number): string[] {
	if (typeof value !== "string") return [`${where} must be a string, got ${JSON.stringify(value)}`];
	const length = textLength(value);
	if (length < min) return [`${where} must have at least ${min} character(s), has ${length}`];
	if (length > max) return [`${where} must have at most ${max} characters, has ${length}`];
	return [];
}
