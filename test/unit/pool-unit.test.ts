import { describe, expect, it } from "vitest";
import { forEachConcurrently } from "../../src/lib/pool";

interface Gate {
	promise: Promise<void>;
	open: () => void;
}

function gate(): Gate {
	let open: () => void = () => {};
	const promise = new Promise<void>((resolve) => {
		open = resolve;
	});
	return { promise, open };
}

/** Lets every pending continuation run without relying on timers. */
async function settle(): Promise<void> {
	for (let i = 0; i < 50; i++) await Promise.resolve();
}

/** A pool run whose items each wait for their own gate, with the bookkeeping the tests check. */
function gatedRun(count: number, limit: number) {
	const gates = Array.from({ length: count }, () => gate());
	const started: number[] = [];
	const finished: number[] = [];
	let inFlight = 0;
	let maxInFlight = 0;
	let done = false;
	const items = Array.from({ length: count }, (_, i) => i);
	const run = forEachConcurrently(items, limit, async (item) => {
		started.push(item);
		inFlight++;
		maxInFlight = Math.max(maxInFlight, inFlight);
		await gates[item]?.promise;
		inFlight--;
		finished.push(item);
	}).then(() => {
		done = true;
	});
	return {
		gates,
		started,
		finished,
		run,
		inFlight: () => inFlight,
		maxInFlight: () => maxInFlight,
		done: () => done,
	};
}

describe("forEachConcurrently", () => {
	it("never has more than the limit in flight", async () => {
		const pool = gatedRun(10, 3);
		await settle();
		expect(pool.started).toEqual([0, 1, 2]);
		expect(pool.inFlight()).toBe(3);

		const order = [1, 0, 4, 2, 3, 7, 5, 6, 9, 8];
		for (const item of order) {
			pool.gates[item]?.open();
			await settle();
			expect(pool.inFlight()).toBeLessThanOrEqual(3);
		}
		await pool.run;
		expect(pool.maxInFlight()).toBe(3);
		expect([...pool.finished].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
	});

	it("starts the next item as soon as a slot frees up", async () => {
		const pool = gatedRun(5, 2);
		await settle();
		expect(pool.started).toEqual([0, 1]);
		pool.gates[1]?.open();
		await settle();
		expect(pool.started).toEqual([0, 1, 2]);
		pool.gates[2]?.open();
		await settle();
		expect(pool.started).toEqual([0, 1, 2, 3]);
		for (const g of pool.gates) g.open();
		await pool.run;
	});

	it("does not let a slow item block the others", async () => {
		const pool = gatedRun(6, 2);
		for (let i = 1; i < 6; i++) pool.gates[i]?.open();
		await settle();
		expect([...pool.finished].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
		expect(pool.done()).toBe(false);
		pool.gates[0]?.open();
		await pool.run;
		expect(pool.done()).toBe(true);
		expect(pool.finished).toContain(0);
	});

	it("processes every item exactly once", async () => {
		for (const limit of [1, 2, 4, 7, 100]) {
			const items = Array.from({ length: 23 }, (_, i) => `item-${i}`);
			const seen: string[] = [];
			await forEachConcurrently(items, limit, async (item) => {
				await Promise.resolve();
				seen.push(item);
			});
			expect([...seen].sort(), `limit ${limit}`).toEqual([...items].sort());
		}
	});

	it("runs items one at a time and in order with a limit of 1", async () => {
		const pool = gatedRun(4, 1);
		await settle();
		expect(pool.started).toEqual([0]);
		for (const g of pool.gates) {
			g.open();
			await settle();
		}
		await pool.run;
		expect(pool.started).toEqual([0, 1, 2, 3]);
		expect(pool.maxInFlight()).toBe(1);
	});

	it("resolves at once for no items without calling work", async () => {
		let calls = 0;
		await forEachConcurrently([], 3, async () => {
			calls++;
		});
		expect(calls).toBe(0);
	});

	it("rejects when an item's work fails", async () => {
		const failure = new Error("boom");
		await expect(
			forEachConcurrently([1, 2, 3], 2, async (item) => {
				if (item === 2) throw failure;
			}),
		).rejects.toBe(failure);
	});
});

describe("forEachConcurrently limit", () => {
	it.each([0, -1, Number.NaN, 1.5])("refuses a limit of %d instead of silently doing nothing", async (limit) => {
		await expect(forEachConcurrently([1], limit, async () => undefined)).rejects.toThrow(RangeError);
	});
});

describe("forEachConcurrently per-key limit", () => {
	it("never runs more than perKey.limit items of one key, while other keys use the free slots", async () => {
		const items = ["slow", "slow", "slow", "slow", "a", "b", "c"];
		const running = new Map<string, number>();
		let maxSlow = 0;
		const started: string[] = [];
		const release: (() => void)[] = [];
		const done = forEachConcurrently(
			items,
			4,
			(item) => {
				started.push(item);
				running.set(item, (running.get(item) ?? 0) + 1);
				maxSlow = Math.max(maxSlow, running.get("slow") ?? 0);
				return new Promise<void>((resolve) => {
					release.push(() => {
						running.set(item, (running.get(item) ?? 1) - 1);
						resolve();
					});
				});
			},
			{ key: (item) => item, limit: () => 2 },
		);
		await Promise.resolve();
		// Two "slow" items hold two slots; the other two went to a and b, skipping the queued slow ones.
		expect(started).toEqual(["slow", "slow", "a", "b"]);
		while (release.length > 0) {
			release.shift()?.();
			await new Promise((resolve) => setTimeout(resolve, 0));
		}
		await done;
		expect(started.filter((item) => item === "slow")).toHaveLength(4);
		expect(maxSlow).toBe(2);
	});
});
