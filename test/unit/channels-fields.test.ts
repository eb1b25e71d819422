import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { describeValue, ELLIPSIS, escapeAndTruncate, importantFields, truncate } from "../../src/channels/fields";

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const escapeAmp = (codePoint: string) => (codePoint === "&" ? "&amp;" : codePoint);

describe("truncate", () => {
	it("leaves text within the limit as it is", () => {
		expect(truncate("hello", 5)).toBe("hello");
		expect(truncate("", 0)).toBe("");
	});

	it("cuts to exactly the limit, ending with the ellipsis", () => {
		expect(truncate("hello world", 6)).toBe("hello…");
		expect(truncate("hello world", 1)).toBe(ELLIPSIS);
		expect(truncate("hello", 0)).toBe("");
	});

	it("never splits a surrogate pair", () => {
		// "a😀bc" is five code units; a cut after two would keep half of the emoji.
		expect(truncate("a😀bc", 3)).toBe("a…");
		expect(truncate("a😀bc", 4)).toBe("a😀…");
	});

	it("keeps any well-formed text well formed and within the limit", () => {
		fc.assert(
			fc.property(fc.string({ unit: "grapheme", maxLength: 60 }), fc.integer({ min: 0, max: 40 }), (text, limit) => {
				const result = truncate(text, limit);
				expect(result.length).toBeLessThanOrEqual(Math.max(limit, 0));
				expect(LONE_SURROGATE.test(result)).toBe(false);
				if (text.length <= limit) expect(result).toBe(text);
				else if (limit > 0) {
					expect(result.endsWith(ELLIPSIS)).toBe(true);
					expect(text.startsWith(result.slice(0, -1))).toBe(true);
				}
			}),
		);
	});
});

describe("escapeAndTruncate", () => {
	it("escapes without cutting when the escaped text fits", () => {
		expect(escapeAndTruncate("a&b", 7, escapeAmp)).toBe("a&amp;b");
	});

	it("measures the escaped text and never cuts inside an escape", () => {
		expect(escapeAndTruncate("a&bc", 7, escapeAmp)).toBe("a&amp;…");
		// "a&amp;b" is 7 long: at 6 the escape and the ellipsis no longer fit together.
		expect(escapeAndTruncate("a&b", 6, escapeAmp)).toBe("a…");
		expect(escapeAndTruncate("&&&&", 12, escapeAmp)).toBe("&amp;&amp;…");
	});

	it("keeps escaped text within the limit and made of whole escapes", () => {
		fc.assert(
			fc.property(
				fc.string({ unit: fc.constantFrom("&", "a", "😀"), maxLength: 50 }),
				fc.integer({ min: 1, max: 60 }),
				(text, limit) => {
					const result = escapeAndTruncate(text, limit, escapeAmp);
					expect(result.length).toBeLessThanOrEqual(limit);
					expect(LONE_SURROGATE.test(result)).toBe(false);
					const body = result.endsWith(ELLIPSIS) ? result.slice(0, -1) : result;
					expect(body.replace(/&amp;/g, "")).not.toContain("&");
				},
			),
		);
	});

	it("gives the first code unit a string has when the limit is 1 and it fits", () => {
		expect(escapeAndTruncate("x", 1)).toBe("x");
		expect(escapeAndTruncate("xy", 1)).toBe(ELLIPSIS);
		expect(escapeAndTruncate("xy", 0)).toBe("");
	});
});

describe("describeValue", () => {
	it.each([
		["a string as it is", "plain text", "plain text"],
		["an empty list", [], "0 items"],
		["a list of one", ["x"], "1 item"],
		["a list of three", [1, 2, 3], "3 items"],
		["a number as JSON", 12.5, "12.5"],
		["a boolean as JSON", false, "false"],
		["null as JSON", null, "null"],
		["an object as JSON", { a: { b: 1 } }, '{"a":{"b":1}}'],
	])("shows %s", (_, value, expected) => {
		expect(describeValue(value)).toBe(expected);
	});
});

describe("importantFields", () => {
	it("lists top-level values first, then nested objects one level down, in payload order", () => {
		const data = {
			id: "ord_1",
			customer: { email: "a@example.com", address: { city: "Paris" }, tags: ["vip"] },
			amount: 4200,
			items: [{ sku: "a" }, { sku: "b" }, { sku: "c" }],
			paid: true,
			note: null,
			meta: {},
			shipping: { method: "post" },
		};
		expect(importantFields(data, 20)).toEqual([
			{ name: "id", value: "ord_1" },
			{ name: "amount", value: "4200" },
			{ name: "items", value: "3 items" },
			{ name: "paid", value: "true" },
			{ name: "note", value: "null" },
			{ name: "customer.email", value: "a@example.com" },
			{ name: "customer.address", value: '{"city":"Paris"}' },
			{ name: "customer.tags", value: "1 item" },
			{ name: "meta", value: "{}" },
			{ name: "shipping.method", value: "post" },
		]);
	});

	it.each([
		["a string", "hello", "hello"],
		["a number", 42, "42"],
		["null", null, "null"],
		["a list", [1, 2], "2 items"],
	])("shows %s payload as one field named data", (_, data, value) => {
		expect(importantFields(data, 10)).toEqual([{ name: "data", value }]);
	});

	it("says how many fields were left out in the last slot", () => {
		const data = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`f${index}`, index]));
		const fields = importantFields(data, 10);
		expect(fields).toHaveLength(10);
		expect(fields.slice(0, 9).map((field) => field.name)).toEqual(Array.from({ length: 9 }, (_, i) => `f${i}`));
		expect(fields[9]).toEqual({ name: ELLIPSIS, value: "51 more fields" });
	});

	it("needs no summary when the fields fit exactly", () => {
		const data = { a: 1, b: 2, c: 3 };
		expect(importantFields(data, 3)).toEqual([
			{ name: "a", value: "1" },
			{ name: "b", value: "2" },
			{ name: "c", value: "3" },
		]);
		expect(importantFields(data, 2)).toEqual([
			{ name: "a", value: "1" },
			{ name: ELLIPSIS, value: "2 more fields" },
		]);
	});

	it("gives nothing for a maximum of zero and nothing for an empty object", () => {
		expect(importantFields({ a: 1 }, 0)).toEqual([]);
		expect(importantFields({}, 10)).toEqual([]);
	});
});
