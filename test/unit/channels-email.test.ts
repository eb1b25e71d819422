import { describe, expect, it } from "vitest";
import {
	EMAIL_FIELDS_MAX,
	EMAIL_SUBJECT_MAX,
	EMAIL_VALUE_MAX,
	emailContent,
	escapeHtml,
} from "../../src/channels/email-content";
import { EMAIL_NOT_ALLOWED, emailAllowedFor, emailChannelProblem } from "../../src/channels/email-send";
import type { NotificationInput } from "../../src/channels/input";

function input(data: unknown, overrides: Partial<NotificationInput["envelope"]> = {}): NotificationInput {
	return {
		envelope: { id: "evt_1", type: "order.paid", timestamp: "2024-01-15T10:00:00Z", data, ...overrides },
		deliveryUrl: "https://edgehook.example.com/dashboard/deliveries/dlv_1",
	};
}

/** The HTML with every tag removed, to check that data only ever lands in text. */
function tagsOf(html: string): string[] {
	return html.match(/<[^>]*>/g) ?? [];
}

describe("emailContent", () => {
	it("names the type and the first field in the subject", () => {
		expect(emailContent(input({ email: "a@example.com", plan: "pro" })).subject).toBe(
			"[order.paid] email: a@example.com",
		);
	});

	it("falls back to the event id in the subject when there is no data field", () => {
		expect(emailContent(input({})).subject).toBe("[order.paid] event evt_1");
	});

	it("lists the fields, event, time and link in the text body", () => {
		const content = emailContent(
			input({ order: "ord_1", total: 42.5, note: "line one\nline two", customer: { id: 7 } }),
		);
		expect(content.text).toBe(
			[
				"order.paid",
				"",
				"order: ord_1",
				"total: 42.5",
				"note: line one",
				"  line two",
				"customer.id: 7",
				"",
				"Event: evt_1",
				"Time: 2024-01-15T10:00:00Z",
				"View delivery: https://edgehook.example.com/dashboard/deliveries/dlv_1",
				"",
			].join("\n"),
		);
	});

	it("writes the same content as HTML with inline styles only", () => {
		const { html } = emailContent(input({ order: "ord_1" }));
		expect(html.startsWith("<!doctype html>")).toBe(true);
		expect(html).toContain(">order.paid</h1>");
		expect(html).toMatch(/<th [^>]*>order<\/th><td [^>]*>ord_1<\/td>/);
		expect(html).toContain("Event evt_1 · 2024-01-15T10:00:00Z");
		expect(html).toContain('<a href="https://edgehook.example.com/dashboard/deliveries/dlv_1"');
		expect(html).not.toMatch(/<style|<link|class=/);
	});

	it("HTML-escapes everything that comes from the event", () => {
		const attack = `<script>alert(1)</script>&"'<img src=x onerror=alert(2)>`;
		const { html } = emailContent(input({ [attack]: attack }, { type: attack, id: attack, timestamp: attack }));
		const escaped = escapeHtml(attack);
		expect(escaped).toBe("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;&lt;img src=x onerror=alert(2)&gt;");
		expect(html).not.toContain("<script");
		expect(html).not.toContain("<img");
		for (const tag of tagsOf(html)) expect(tag).not.toMatch(/script|onerror/);
		// Type, field name, value, id and time: five places, each escaped.
		expect(html.split(escaped).length - 1).toBe(5);
	});

	it("links only to a web address", () => {
		const content = emailContent({ ...input({ a: 1 }), deliveryUrl: "javascript:alert(1)" });
		expect(content.html).not.toContain("javascript:");
		expect(content.text).not.toContain("View delivery");
		const none = emailContent({ ...input({ a: 1 }), deliveryUrl: null });
		expect(none.html).not.toContain("<a ");
		expect(none.text).not.toContain("View delivery");
	});

	it("keeps line breaks and controls out of the subject", () => {
		const { subject } = emailContent(
			input({ "x\r\nBcc: victim@example.com": "a\rb\nc\u2028d\u0085e\tf" }, { type: "evil\r\nX-Injected: 1" }),
		);
		expect(subject).toBe("[evil X-Injected: 1] x Bcc: victim@example.com: a b c d e f");
		expect(subject).not.toMatch(/[\r\n\u2028\u2029\u0085]/);
	});

	it("keeps the subject within its limit with a visible cut", () => {
		const { subject } = emailContent(input({ note: "n".repeat(10_000) }, { type: "t".repeat(10_000) }));
		expect(subject).toHaveLength(EMAIL_SUBJECT_MAX);
		expect(subject.endsWith("…")).toBe(true);
		expect(subject.startsWith(`[${"t".repeat(99)}…] note: n`)).toBe(true);
	});

	it("bounds the body with 60 fields of 10 KB and says what was left out", () => {
		const big = "b".repeat(10_000);
		const data = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`f${index}`, big]));
		const { text, html } = emailContent(input(data));
		const lines = text.split("\n").filter((line) => /^f\d+: /.test(line));
		expect(lines).toHaveLength(EMAIL_FIELDS_MAX - 1);
		for (const line of lines) expect(line).toMatch(new RegExp(`^f\\d+: b{${EMAIL_VALUE_MAX - 1}}…$`));
		expect(text).toContain(`\n…: ${60 - (EMAIL_FIELDS_MAX - 1)} more fields\n`);
		expect(html).toContain(`${60 - (EMAIL_FIELDS_MAX - 1)} more fields`);
		expect(text.length).toBeLessThan(EMAIL_FIELDS_MAX * (EMAIL_VALUE_MAX + 10) + 1000);
	});
});

describe("EMAIL_TENANTS", () => {
	it("lets every tenant use email when empty, as before the setting", () => {
		expect(emailAllowedFor("", "default")).toBe(true);
		expect(emailAllowedFor("  ", "ten_anyone")).toBe(true);
		expect(emailAllowedFor(undefined, "ten_anyone")).toBe(true);
	});

	it("lets only the tenants it names, separated by spaces or commas", () => {
		expect(emailAllowedFor("default, ten_a ten_b,ten_c", "default")).toBe(true);
		expect(emailAllowedFor("default, ten_a ten_b,ten_c", "ten_b")).toBe(true);
		expect(emailAllowedFor("default, ten_a ten_b,ten_c", "ten_c")).toBe(true);
		expect(emailAllowedFor("default, ten_a ten_b,ten_c", "ten_d")).toBe(false);
		// Whole ids only: a prefix of a named one is another tenant.
		expect(emailAllowedFor("ten_ab", "ten_a")).toBe(false);
	});

	it("says why a tenant has no email channel: no sender first, then not named", () => {
		const sender = "Edgehook <edgehook@example.com>";
		expect(emailChannelProblem({ EMAIL_FROM: sender, EMAIL_TENANTS: "ten_a" }, "ten_a")).toBeNull();
		expect(emailChannelProblem({ EMAIL_FROM: sender, EMAIL_TENANTS: "ten_a" }, "ten_b")).toBe(EMAIL_NOT_ALLOWED);
		expect(emailChannelProblem({ EMAIL_FROM: "", EMAIL_TENANTS: "ten_a" }, "ten_b")).toBe(
			"email needs a sender: this deployment has no EMAIL_FROM configured",
		);
	});
});
