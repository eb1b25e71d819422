import { describe, expect, it } from "vitest";
import { api, record, uniqueName } from "./helpers";

interface Page {
	data: Record<string, unknown>[];
	iterator: string | null;
	prevIterator?: string | null;
	done: boolean;
}

async function page(path: string, iterator?: string | null): Promise<Page> {
	const separator = path.includes("?") ? "&" : "?";
	const url = iterator ? `${path}${separator}iterator=${encodeURIComponent(iterator)}` : path;
	const response = await api("GET", url);
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body as Page;
}

/**
 * Reads a list forwards to `done`, then from its last page backwards through
 * `prevIterator` to `done`: the pages read backwards must hold the same items
 * in the same order, each page in the list's order.
 */
async function walkBothWays(path: string, keyOf: (item: Record<string, unknown>) => string): Promise<string[]> {
	const forward: Page[] = [];
	let current = await page(path);
	forward.push(current);
	while (!current.done) {
		current = await page(path, current.iterator);
		forward.push(current);
	}
	const items = forward.flatMap((each) => each.data.map(keyOf));
	const lastPage = forward[forward.length - 1];
	const backward: Page[] = [];
	let previous = lastPage?.prevIterator ?? null;
	for (let guard = 0; previous !== null && guard < 50; guard++) {
		current = await page(path, previous);
		backward.push(current);
		previous = current.done ? null : (current.prevIterator ?? null);
	}
	const readBack = [...backward].reverse().flatMap((each) => each.data.map(keyOf));
	const beforeLast = items.slice(0, items.length - (lastPage?.data.length ?? 0));
	expect(readBack).toEqual(beforeLast);
	return items;
}

describe("Svix paging both ways (prevIterator)", () => {
	it("pages an application's endpoints, newest id first, forwards and back", async () => {
		const app = record((await api("POST", "/api/v1/app", { body: { name: uniqueName("paging") } })).body);
		const created: string[] = [];
		for (let index = 0; index < 5; index++) {
			const endpoint = record(
				(await api("POST", `/api/v1/app/${app.id}/endpoint`, { body: { url: `https://example.com/p${index}` } })).body,
			);
			created.push(String(endpoint.id));
		}
		const items = await walkBothWays(`/api/v1/app/${app.id}/endpoint?limit=2`, (item) => String(item.id));
		expect(items).toEqual([...created].sort().reverse());
		const ascending = await walkBothWays(`/api/v1/app/${app.id}/endpoint?limit=2&order=ascending`, (item) =>
			String(item.id),
		);
		expect(ascending).toEqual([...created].sort());
	});

	it("pages messages, newest first, forwards and back", async () => {
		const app = record((await api("POST", "/api/v1/app", { body: { name: uniqueName("paging") } })).body);
		const sent: string[] = [];
		for (let index = 0; index < 5; index++) {
			const message = record(
				(await api("POST", `/api/v1/app/${app.id}/msg`, { body: { eventType: "paging.test", payload: { index } } }))
					.body,
			);
			sent.push(String(message.id));
		}
		const items = await walkBothWays(`/api/v1/app/${app.id}/msg?limit=2`, (item) => String(item.id));
		expect(items).toEqual([...sent].reverse());
	});

	it("pages applications and event types, forwards and back", async () => {
		for (let index = 0; index < 3; index++) {
			expect((await api("POST", "/api/v1/app", { body: { name: uniqueName("paging-app") } })).status).toBe(201);
			const name = `paging.type${index}`;
			const created = await api("POST", "/api/v1/event-type", { body: { name, description: "Paging" } });
			expect([201, 409]).toContain(created.status);
		}
		const apps = await walkBothWays("/api/v1/app?limit=2", (item) => String(item.id));
		expect(apps).toEqual([...apps].sort());
		expect(apps.length).toBeGreaterThanOrEqual(4);
		const types = await walkBothWays("/api/v1/event-type?limit=2", (item) => String(item.name));
		expect(types).toEqual([...types].sort());
		expect(types).toEqual(expect.arrayContaining(["paging.type0", "paging.type1", "paging.type2"]));
	});

	it("gives a page's first item as prevIterator and its last as iterator", async () => {
		const app = record((await api("POST", "/api/v1/app", { body: { name: uniqueName("paging") } })).body);
		for (let index = 0; index < 3; index++) {
			await api("POST", `/api/v1/app/${app.id}/endpoint`, { body: { url: `https://example.com/q${index}` } });
		}
		const first = await page(`/api/v1/app/${app.id}/endpoint?limit=2`);
		expect(first.done).toBe(false);
		expect(first.iterator).toBe(first.data[1]?.id);
		expect(first.prevIterator).toBe(`-${String(first.data[0]?.id)}`);
		// Nothing comes before the first page.
		const before = await page(`/api/v1/app/${app.id}/endpoint?limit=2`, first.prevIterator);
		expect(before).toMatchObject({ data: [], iterator: null, prevIterator: null, done: true });
	});
});
