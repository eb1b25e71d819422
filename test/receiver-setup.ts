import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

/**
 * A real HTTP receiver on 127.0.0.1 for the tests that run inside workerd
 * (which cannot listen on a socket itself). Each test uses its own path, and
 * the path's first segment after /hook says how to answer:
 * - /hook/ok/<name>: 200
 * - /hook/status/<code>/<name>: that status (with Retry-After when ?retry_after=)
 * - /hook/flaky/<failures>/<name>: 500 for the first <failures> requests, then 200
 * - /hook/hang/<name>: never answers
 * - /hook/slow/<ms>/<name>: 200 after <ms> milliseconds; with ?fast=<k>, the first <k> requests at once
 * - /hook/origin-dns-error/<name>: what Cloudflare answers a fetch to a host name that does not resolve (530, error 1016)
 * Every request is recorded, with how many of its name's requests were open
 * (not yet answered) as it arrived, itself included; GET /requests/<name>
 * returns them.
 */
interface Recorded {
	headers: Record<string, string>;
	body: string;
	receivedAt: number;
	inFlight: number;
}

function readBody(request: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		request.on("data", (chunk: Buffer) => chunks.push(chunk));
		request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
		request.on("error", reject);
	});
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
	const recorded = new Map<string, Recorded[]>();
	const open = new Map<string, number>();
	const server: Server = createServer(async (request, response) => {
		const url = new URL(request.url ?? "/", "http://127.0.0.1");
		const parts = url.pathname.split("/").filter(Boolean);
		if (request.method === "GET" && parts[0] === "requests") {
			response.setHeader("content-type", "application/json");
			response.end(JSON.stringify(recorded.get(parts.slice(1).join("/")) ?? []));
			return;
		}
		const body = await readBody(request);
		const name = parts.at(-1) ?? "";
		const log = recorded.get(name) ?? [];
		const headers = Object.fromEntries(Object.entries(request.headers).map(([key, value]) => [key, String(value)]));
		const inFlight = (open.get(name) ?? 0) + 1;
		open.set(name, inFlight);
		response.on("close", () => open.set(name, (open.get(name) ?? 1) - 1));
		log.push({ headers, body, receivedAt: Date.now(), inFlight });
		recorded.set(name, log);
		const [, mode, argument] = parts;
		if (mode === "hang") return;
		if (mode === "slow") {
			const fast = log.length <= Number(url.searchParams.get("fast") ?? 0);
			setTimeout(() => response.end("received"), fast ? 0 : Number(argument));
			return;
		}
		if (mode === "status") {
			const retryAfter = url.searchParams.get("retry_after");
			if (retryAfter) response.setHeader("retry-after", retryAfter);
			response.statusCode = Number(argument);
			response.end(`status ${argument}`);
			return;
		}
		if (mode === "origin-dns-error") {
			response.statusCode = 530;
			response.end("error code: 1016");
			return;
		}
		if (mode === "flaky" && log.length <= Number(argument)) {
			response.statusCode = 500;
			response.end("not yet");
			return;
		}
		response.end("received");
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	project.provide("receiverUrl", `http://127.0.0.1:${port}`);
	return async () => {
		server.closeAllConnections();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	};
}
