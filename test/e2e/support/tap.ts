/**
 * A recording relay in front of another receiver (a seed receiver, whose
 * requests happen in a child process the test cannot see): it keeps each
 * request byte for byte, passes it on unchanged (same method, path, headers
 * with their original names, and body) and answers with the upstream's
 * status and body. So a test can check, on the very request the vendor's
 * snippet judged, what other verifiers (standardwebhooks, svix) say of it.
 *
 * Only `host` (set to the upstream's) and the connection headers are not
 * passed on; `content-length` is set from the body, which is never re-encoded.
 */

import {
	createServer,
	request as httpRequest,
	type IncomingMessage,
	type Server,
	type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { onWholeRequest, type ReceivedRequest } from "./receiver";
import { done, notYet, type Poll, waitFor } from "./wait";

/** A request as the tap saw it, and what the upstream answered. */
export interface TappedRequest extends ReceivedRequest {
	/** The upstream's status, or 502 when it could not be reached (then `upstreamError` says why). */
	upstreamStatus: number;
	upstreamBody: string;
	upstreamError?: string;
}

const NOT_FORWARDED = new Set([
	"host",
	"connection",
	"keep-alive",
	"transfer-encoding",
	"content-length",
	"te",
	"upgrade",
]);
const UPSTREAM_TIMEOUT_MS = 15_000;

export class Tap {
	readonly requests: TappedRequest[] = [];
	private readonly server: Server;
	private origin = "";

	private constructor(private readonly upstream: URL) {
		this.server = createServer((req, res) => {
			this.handle(req, res);
		});
	}

	/** Starts a tap on 127.0.0.1 that relays to `upstreamUrl` (its path is the one to register too). */
	static async start(upstreamUrl: string): Promise<Tap> {
		const tap = new Tap(new URL(upstreamUrl));
		await new Promise<void>((resolve, reject) => {
			tap.server.once("error", reject);
			tap.server.listen(0, "127.0.0.1", () => {
				resolve();
			});
		});
		tap.origin = `http://127.0.0.1:${(tap.server.address() as AddressInfo).port}`;
		return tap;
	}

	/** The URL to register: the tap's origin with the upstream's path. */
	get url(): string {
		return `${this.origin}${this.upstream.pathname}${this.upstream.search}`;
	}

	/** Requests whose `webhook-id` header is `eventId`, once the upstream answered them. */
	requestsFor(eventId: string): TappedRequest[] {
		return this.requests.filter((request) => request.headers["webhook-id"] === eventId);
	}

	/** Resolves with the first relayed request for `eventId`. */
	async waitForEvent(eventId: string, timeoutMs = 20_000): Promise<TappedRequest> {
		return waitFor(
			`a request for ${eventId} at ${this.url}`,
			(): Poll<TappedRequest> => {
				const [first] = this.requestsFor(eventId);
				return first === undefined ? notYet(`${this.requests.length} request(s) in all`) : done(first);
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

	private handle(req: IncomingMessage, res: ServerResponse): void {
		onWholeRequest(req, this.requests.length, (base) => {
			// Passed on with the names as they arrived.
			const forwarded: Record<string, string> = {};
			for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
				const name = req.rawHeaders[i] ?? "";
				if (!NOT_FORWARDED.has(name.toLowerCase())) {
					forwarded[name] = req.rawHeaders[i + 1] ?? "";
				}
			}
			forwarded["content-length"] = String(base.rawBody.length);
			void this.relay(base, forwarded).then((tapped) => {
				this.requests.push(tapped);
				res.writeHead(tapped.upstreamStatus, { "content-type": "text/plain" });
				res.end(tapped.upstreamBody);
			});
		});
	}

	private relay(request: ReceivedRequest, headers: Record<string, string>): Promise<TappedRequest> {
		return new Promise<TappedRequest>((resolve) => {
			const failed = (error: Error): void => {
				resolve({ ...request, upstreamStatus: 502, upstreamBody: "", upstreamError: error.message });
			};
			const outgoing = httpRequest(
				{
					hostname: this.upstream.hostname,
					port: this.upstream.port,
					method: request.method,
					path: request.path,
					headers,
					timeout: UPSTREAM_TIMEOUT_MS,
				},
				(upstream) => {
					const parts: Buffer[] = [];
					upstream.on("data", (chunk: Buffer) => {
						parts.push(chunk);
					});
					upstream.on("end", () => {
						resolve({
							...request,
							upstreamStatus: upstream.statusCode ?? 502,
							upstreamBody: Buffer.concat(parts).toString("utf8"),
						});
					});
					upstream.on("error", failed);
				},
			);
			outgoing.on("timeout", () => {
				outgoing.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT_MS} ms`));
			});
			outgoing.on("error", failed);
			outgoing.end(request.rawBody);
		});
	}
}
