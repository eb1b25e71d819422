import { describe, expect, it } from "vitest";
import {
	afterSends,
	freshPace,
	PACE_JITTER_ALLOWANCE_MS,
	PACE_LEASE_MS,
	paceSpacingMs,
	takeSlot,
} from "../../src/scheduler/pace";

const T0 = 1_800_000_000_000;

describe("pace", () => {
	it("spaces slots so that a one-second window holds no more than the limit even with each request up to 250 ms late", () => {
		expect(PACE_JITTER_ALLOWANCE_MS).toBe(250);
		expect(paceSpacingMs(5)).toBe(250);
		expect(paceSpacingMs(100)).toBe(13);
		for (const limit of [1, 3, 5, 7, 50, 1000]) {
			const spacing = paceSpacingMs(limit);
			// limit + 1 sends span limit gaps; with the first on time and the last that late, they must not fit in one second.
			expect(limit * spacing - PACE_JITTER_ALLOWANCE_MS, `limit ${limit}`).toBeGreaterThanOrEqual(1000);
		}
	});

	it("hands out consecutive slots within the lease, and makes later ones wait without reserving them", () => {
		let pace = freshPace();
		const decisions = [];
		for (let i = 0; i < 8; i++) {
			const next = takeSlot(pace, 5, T0, decisions.filter((decision) => "waitUntil" in decision).length);
			pace = next.pace;
			decisions.push(next.decision);
		}
		const sends = decisions.flatMap((decision) => ("sendAt" in decision ? [decision.sendAt] : []));
		expect(sends).toEqual([T0, T0 + 250, T0 + 500, T0 + 750, T0 + 1000]);
		expect(sends.every((at) => at <= T0 + PACE_LEASE_MS)).toBe(true);
		const waits = decisions.flatMap((decision) => ("waitUntil" in decision ? [decision.waitUntil] : []));
		expect(waits).toEqual([T0 + 1250, T0 + 1500, T0 + 1750]);
		// Waiting ones reserved nothing: the next slot is right after the last one handed out.
		expect(pace.nextSlotAt).toBe(T0 + 1250);
	});

	it("sends at once without a limit, and holds everything while a 429's pause lasts", () => {
		expect(takeSlot(freshPace(), null, T0, 0).decision).toEqual({ sendAt: T0 });
		const paused = afterSends(freshPace(), null, null, T0 + 3000);
		expect(takeSlot(paused, null, T0, 0).decision).toEqual({ waitUntil: T0 + 3000 });
		expect(takeSlot(paused, 5, T0 + 3000, 0).decision).toEqual({ sendAt: T0 + 3000 });
	});

	it("keeps the next slot a full spacing after the last actual send, even a late one", () => {
		const pace = { nextSlotAt: T0 + 250, pausedUntil: null };
		expect(afterSends(pace, 5, T0 + 500, null).nextSlotAt).toBe(T0 + 750);
		expect(afterSends(pace, 5, T0, null).nextSlotAt).toBe(T0 + 250);
		expect(afterSends({ nextSlotAt: 0, pausedUntil: T0 + 10 }, null, null, T0 + 5).pausedUntil).toBe(T0 + 10);
	});
});
