import { describe, expect, it } from "vitest";
import {
	deliveryId,
	deliveryIdRange,
	ID_PREFIX,
	newAttemptId,
	newEndpointId,
	newEventId,
	parseDeliveryId,
	parsePublicDeliveryId,
	publicDeliveryId,
} from "../../src/lib/ids";

/** Crockford base32, lower case: no i, l, o or u. */
const KEY = "[0-9a-hjkmnp-tv-z]";
const SEQS = [0, 1, 31, 32, 33, 1000, 1023, 1024, 123_456_789, 2 ** 40, 32 ** 10 - 1];

function shuffled<T>(items: readonly T[]): T[] {
	const out = [...items];
	for (let i = out.length - 1; i > 0; i--) {
		const j = Math.floor(Math.random() * (i + 1));
		const a = out[i] as T;
		out[i] = out[j] as T;
		out[j] = a;
	}
	return out;
}

function byCodeUnits(a: string, b: string): number {
	return a < b ? -1 : a > b ? 1 : 0;
}

describe("deliveryId and parseDeliveryId", () => {
	it("round-trip the endpoint id and event seq", () => {
		for (let round = 0; round < 5; round++) {
			const endpointId = newEndpointId();
			for (const eventSeq of SEQS) {
				const id = deliveryId(endpointId, eventSeq);
				expect(id).toMatch(new RegExp(`^del_${KEY}{26}$`));
				expect(parseDeliveryId(id)).toEqual({ endpointId, eventSeq });
			}
		}
	});

	it("give the same id for the same pair and different ids for different pairs", () => {
		const a = newEndpointId();
		const b = newEndpointId();
		expect(deliveryId(a, 7)).toBe(deliveryId(a, 7));
		expect(deliveryId(a, 7)).not.toBe(deliveryId(a, 8));
		expect(deliveryId(a, 7)).not.toBe(deliveryId(b, 7));
	});

	it("sort one endpoint's deliveries by event seq", () => {
		const endpointId = newEndpointId();
		const seqs = shuffled([...SEQS, 2, 3, 64, 65, 999, 1_000_000, 2 ** 35 + 1]);
		const ids = seqs.map((seq) => deliveryId(endpointId, seq));
		const sortedIds = [...ids].sort(byCodeUnits);
		const sortedSeqs = [...seqs].sort((x, y) => x - y);
		expect(sortedIds.map((id) => parseDeliveryId(id)?.eventSeq)).toEqual(sortedSeqs);
		expect(sortedIds).toEqual(sortedSeqs.map((seq) => deliveryId(endpointId, seq)));
	});

	it.each([
		["empty", ""],
		["prefix only", "del_"],
		["wrong prefix", "dlv_0123456789abcdef0123456789"],
		["event id", "evt_0123456789abcdef0123456789"],
		["one char short", "del_0123456789abcdef012345678"],
		["one char long", "del_0123456789abcdef01234567890"],
		["upper case", "del_0123456789ABCDEF0123456789"],
		["excluded letter i", "del_0123456789abcdei0123456789"],
		["excluded letter u in seq", "del_0123456789abcdef012345678u"],
		["punctuation", "del_0123456789abcdef01234567-9"],
		["leading space", " del_0123456789abcdef012345678"],
	])("returns null for a malformed id (%s)", (_, id) => {
		expect(parseDeliveryId(id)).toBeNull();
	});

	it("accepts a well-formed id built by hand", () => {
		expect(parseDeliveryId("del_0123456789abcdef0000000011")).toEqual({
			endpointId: "hook_0123456789abcdef",
			eventSeq: 33,
		});
	});
});

describe("deliveryIdRange", () => {
	it("contains every delivery of its endpoint", () => {
		const endpointId = newEndpointId();
		const { from, to } = deliveryIdRange(endpointId);
		for (const seq of SEQS) {
			const id = deliveryId(endpointId, seq);
			expect(id >= from && id < to, id).toBe(true);
		}
	});

	it("excludes deliveries of other endpoints, including neighbouring keys", () => {
		const endpointId = "hook_mmmmmmmmmmmmmmmm";
		const { from, to } = deliveryIdRange(endpointId);
		const others = [
			"hook_mmmmmmmmmmmmmmmn",
			"hook_mmmmmmmmmmmmmmmk",
			"hook_mmmmmmmmmmmmmmm0",
			"hook_mmmmmmmmmmmmmmmz",
			"hook_0000000000000000",
			"hook_zzzzzzzzzzzzzzzz",
			newEndpointId(),
		];
		for (const other of others) {
			for (const seq of [0, 1, 32 ** 10 - 1]) {
				const id = deliveryId(other, seq);
				expect(id >= from && id < to, `${other} ${seq}`).toBe(false);
			}
		}
		for (const seq of [0, 32 ** 10 - 1]) {
			const own = deliveryId(endpointId, seq);
			expect(own >= from && own < to).toBe(true);
		}
	});
});

describe("other ids", () => {
	it("endpoint and attempt ids carry their prefix and 16 random chars", () => {
		const endpoints = Array.from({ length: 50 }, () => newEndpointId());
		for (const id of endpoints) expect(id).toMatch(new RegExp(`^${ID_PREFIX.endpoint}${KEY}{16}$`));
		expect(new Set(endpoints).size).toBe(endpoints.length);
		expect(newAttemptId()).toMatch(new RegExp(`^${ID_PREFIX.attempt}${KEY}{16}$`));
	});

	it("event ids sort by creation time", () => {
		const times = [0, 1, 999, 1_000, 1_705_312_800_000, 1_705_312_800_001, 1_800_000_000_000];
		const ids = shuffled(times).map((ms) => ({ ms, id: newEventId(ms) }));
		for (const { id } of ids) expect(id).toMatch(new RegExp(`^evt_${KEY}{26}$`));
		const sorted = [...ids].sort((x, y) => byCodeUnits(x.id, y.id)).map(({ ms }) => ms);
		expect(sorted).toEqual(times);
	});
});

describe("deliveryId sequence bounds", () => {
	it.each([-1, 1.5, 32 ** 10, Number.NaN])("refuses sequence %d rather than wrapping or printing garbage", (seq) => {
		expect(() => deliveryId("hook_abcdefghjkmnpqrs", seq)).toThrow(RangeError);
	});
});

describe("publicDeliveryId and parsePublicDeliveryId", () => {
	const endpointId = newEndpointId();

	it("pair the endpoint's and the event's own ids, generated or chosen by the sender", () => {
		for (const eventId of [newEventId(Date.now()), "order-1234", "a:b.c_d-e", "x".repeat(128)]) {
			const id = publicDeliveryId(endpointId, eventId);
			expect(id).toBe(`del_${endpointId.slice("hook_".length)}_${eventId}`);
			expect(parsePublicDeliveryId(id)).toEqual({ endpointId, eventId });
		}
	});

	it("refuse what no pair makes: stored ids, other prefixes, bad keys and an empty event id", () => {
		for (const id of [
			deliveryId(endpointId, 42),
			`evt_${endpointId.slice(5)}_evt_x`,
			"del_",
			`del_${endpointId.slice(5)}_`,
			`del_${endpointId.slice(5, 20)}!_evt_x`,
			"del_AAAAAAAAAAAAAAAA_evt_x",
		]) {
			expect(parsePublicDeliveryId(id), id).toBeNull();
		}
	});
});
