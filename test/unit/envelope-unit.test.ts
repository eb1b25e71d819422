import { describe, expect, it } from "vitest";
import { isoSeconds, serializeEnvelope } from "../../src/delivery/envelope";

/** What the SPEC promises the body is: JSON.stringify of the envelope, keys in this order. */
function reference(id: string, type: string, createdAtMs: number, data: unknown): string {
	const created = Math.floor(createdAtMs / 1000);
	const createdAt = new Date(created * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
	return JSON.stringify({ id, type, created, created_at: createdAt, data });
}

const DATA_CASES: [string, unknown][] = [
	["empty object", {}],
	["flat object", { user_id: "usr_123", email: "a@example.com" }],
	["unicode", { name: "Zoë Ñandú", city: "東京", emoji: "🎉👩‍💻", rtl: "שלום" }],
	[
		"escapes",
		{
			quote: 'say "hi"',
			backslash: "C:\\path",
			newline: "a\nb\r\tc",
			control: "\u0001\u001f",
			separators: "\u2028\u2029",
		},
	],
	["nested", { a: { b: { c: [1, { d: [true, false, null] }] } }, list: [[], {}, [[]]] }],
	[
		"numbers",
		{
			int: 42,
			negative: -7,
			float: 2.718_5,
			third: 1 / 3,
			big: 1e21,
			tiny: 5e-324,
			max: Number.MAX_SAFE_INTEGER,
			zero: 0,
		},
	],
	["array payload", [1, "two", { three: 3 }]],
	["string payload", "just a string"],
	["number payload", 12.5],
	["null payload", null],
	["html-ish", { html: "<script>alert('x')</script> & </b>" }],
	["keys needing escapes", { 'we"ird': 1, "new\nline": 2, ключ: 3 }],
];

describe("serializeEnvelope", () => {
	it.each(DATA_CASES)("equals JSON.stringify of the envelope for %s", (_, data) => {
		const source = {
			id: "evt_01hq3x",
			type: "user.created",
			createdAtMs: 1705312800000,
			dataJson: JSON.stringify(data),
		};
		expect(serializeEnvelope(source)).toBe(reference(source.id, source.type, source.createdAtMs, data));
	});

	it("matches the SPEC's example line", () => {
		const body = serializeEnvelope({
			id: "evt_1",
			type: "user.created",
			createdAtMs: 1705312800000,
			dataJson: JSON.stringify({ user_id: "u1" }),
		});
		expect(body).toBe(
			'{"id":"evt_1","type":"user.created","created":1705312800,"created_at":"2024-01-15T10:00:00Z","data":{"user_id":"u1"}}',
		);
	});

	it("escapes ids and types that need it", () => {
		const id = 'evt_"quoted"\\';
		const type = "order.créé.🎉";
		const body = serializeEnvelope({ id, type, createdAtMs: 1705312800000, dataJson: "{}" });
		expect(body).toBe(reference(id, type, 1705312800000, {}));
		const parsed: unknown = JSON.parse(body);
		expect(parsed).toMatchObject({ id, type });
	});

	it("floors milliseconds in both created and created_at", () => {
		const body = serializeEnvelope({ id: "evt_1", type: "t", createdAtMs: 1705312800999, dataJson: "1" });
		expect(JSON.parse(body)).toEqual({
			id: "evt_1",
			type: "t",
			created: 1705312800,
			created_at: "2024-01-15T10:00:00Z",
			data: 1,
		});
	});

	it("keeps the key order and survives a receiver re-serializing the parsed body", () => {
		for (const [, data] of DATA_CASES) {
			const body = serializeEnvelope({
				id: "evt_x",
				type: "a.b",
				createdAtMs: 1_700_000_123_456,
				dataJson: JSON.stringify(data),
			});
			const parsed: unknown = JSON.parse(body);
			expect(Object.keys(parsed as Record<string, unknown>)).toEqual(["id", "type", "created", "created_at", "data"]);
			expect(JSON.stringify(parsed)).toBe(body);
		}
	});
});

describe("isoSeconds", () => {
	it("formats to the second with a Z suffix", () => {
		expect(isoSeconds(1705312800000)).toBe("2024-01-15T10:00:00Z");
		expect(isoSeconds(0)).toBe("1970-01-01T00:00:00Z");
		expect(isoSeconds(Date.UTC(2030, 11, 31, 23, 59, 59))).toBe("2030-12-31T23:59:59Z");
	});

	it("drops milliseconds rather than rounding them up", () => {
		expect(isoSeconds(1705312800999)).toBe("2024-01-15T10:00:00Z");
		expect(isoSeconds(Date.UTC(2024, 1, 29, 23, 59, 59, 999))).toBe("2024-02-29T23:59:59Z");
	});

	it("always has the seed shape and agrees with Date", () => {
		for (let i = 0; i < 50; i++) {
			const ms = Math.floor(Math.random() * 4_000_000_000_000);
			const text = isoSeconds(ms);
			expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
			expect(Date.parse(text)).toBe(Math.floor(ms / 1000) * 1000);
		}
	});
});
