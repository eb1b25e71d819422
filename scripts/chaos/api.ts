/** The management API of the worker under chaos, with the admin key. */

import { setTimeout as sleep } from "node:timers/promises";

export interface Answer {
	status: number;
	text: string;
	json: unknown;
}

export class ChaosApi {
	constructor(
		private readonly baseUrl: string,
		private readonly adminKey: string,
	) {}

	/** One request; a network error or timeout throws. */
	async send(
		method: string,
		path: string,
		options: { json?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
	): Promise<Answer> {
		const headers: Record<string, string> = { authorization: `Bearer ${this.adminKey}`, ...options.headers };
		if (options.json !== undefined) headers["content-type"] = "application/json";
		const response = await fetch(`${this.baseUrl}${path}`, {
			method,
			headers,
			body: options.json === undefined ? undefined : JSON.stringify(options.json),
			signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
		});
		const text = await response.text();
		let json: unknown;
		try {
			json = JSON.parse(text);
		} catch {
			json = undefined;
		}
		return { status: response.status, text, json };
	}

	/**
	 * A read or an idempotent write that must succeed: network errors and 5xx
	 * are tried again a few times (the local runtime is busy), any other
	 * status than `expected` throws with the exchange.
	 */
	async must<T>(method: string, path: string, expected: number, json?: unknown): Promise<T> {
		let last = "";
		for (let attempt = 1; attempt <= 4; attempt++) {
			try {
				const answer = await this.send(method, path, json === undefined ? {} : { json });
				if (answer.status === expected) return answer.json as T;
				last = `HTTP ${answer.status} ${answer.text.slice(0, 400)}`;
				if (answer.status < 500) break;
			} catch (error) {
				last = error instanceof Error ? error.message : String(error);
			}
			await sleep(500 * attempt);
		}
		throw new Error(`${method} ${path}: expected ${expected}, got ${last}`);
	}

	/** Every item of a cursor-paginated list. */
	async listAll<T>(path: string, key: string): Promise<T[]> {
		const items: T[] = [];
		let cursor: string | null = null;
		const separator = path.includes("?") ? "&" : "?";
		for (let page = 0; page < 10_000; page++) {
			const query: string = cursor === null ? "limit=250" : `limit=250&cursor=${encodeURIComponent(cursor)}`;
			const body = await this.must<Record<string, unknown>>("GET", `${path}${separator}${query}`, 200);
			const pageItems = body[key];
			if (!Array.isArray(pageItems)) throw new Error(`GET ${path}: no "${key}" array`);
			items.push(...(pageItems as T[]));
			const next = body.next_cursor;
			const more = body.has_more === undefined ? typeof next === "string" : body.has_more === true;
			if (!more || typeof next !== "string" || pageItems.length === 0) return items;
			cursor = next;
		}
		throw new Error(`GET ${path} did not stop paginating`);
	}
}

/** Runs `task` over `items` with at most `limit` at once. */
export async function inPool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
		while (next < items.length) {
			const item = items[next++];
			if (item !== undefined) await task(item);
		}
	});
	await Promise.all(workers);
}
