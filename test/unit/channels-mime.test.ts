import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { emailContent } from "../../src/channels/email-content";
import { MIME_BASE64_LINE_MAX, MIME_HEADER_LINE_MAX, type MimeParts, mimeMessage } from "../../src/channels/mime";

const DATE = new Date("2024-01-15T10:00:00Z");

function parts(overrides: Partial<MimeParts> = {}): MimeParts {
	return {
		from: "Edgehook <notifications@edgehook.example.com>",
		to: "ops@example.com",
		subject: "[order.paid] order: ord_1",
		text: "order.paid\n\norder: ord_1\n",
		html: "<!doctype html><html><body><h1>order.paid</h1></body></html>",
		messageId: "<att_1.0@edgehook.example.com>",
		date: DATE,
		...overrides,
	};
}

function headerBlock(raw: string): string {
	return raw.slice(0, raw.indexOf("\r\n\r\n"));
}

/** Every line of the message, split on CRLF only. */
function linesOf(raw: string): string[] {
	return raw.split("\r\n");
}

function expectCrlfOnly(raw: string): void {
	expect(raw).not.toMatch(/[^\r]\n|\r[^\n]|^\n/);
	expect(raw.endsWith("\r\n")).toBe(true);
}

/** Parsed bodies come back with the CRLF line breaks MIME requires for text types (RFC 2046). */
function lf(text: string | undefined): string | undefined {
	return text?.replace(/\r\n/g, "\n");
}

describe("mimeMessage", () => {
	it("parses back to the same sender, recipient, subject, bodies, id and date", async () => {
		const raw = mimeMessage(parts());
		const email = await PostalMime.parse(raw);
		expect(email.from).toEqual({ name: "Edgehook", address: "notifications@edgehook.example.com" });
		expect(email.to).toEqual([{ name: "", address: "ops@example.com" }]);
		expect(email.subject).toBe("[order.paid] order: ord_1");
		// Text bodies go out in MIME's canonical form, with CRLF line breaks (RFC 2046).
		expect(email.text).toBe("order.paid\r\n\r\norder: ord_1\r\n");
		expect(email.html).toBe("<!doctype html><html><body><h1>order.paid</h1></body></html>");
		expect(email.messageId).toBe("<att_1.0@edgehook.example.com>");
		expect(email.date).toBe("2024-01-15T10:00:00.000Z");
		expect(email.attachments).toEqual([]);
	});

	it("writes the headers RFC 5322 asks for, in a fixed order", () => {
		const raw = mimeMessage(parts());
		const headers = linesOf(headerBlock(raw));
		expect(headers.slice(0, 6)).toEqual([
			'From: "Edgehook" <notifications@edgehook.example.com>',
			"To: ops@example.com",
			"Subject: [order.paid] order: ord_1",
			"Date: Mon, 15 Jan 2024 10:00:00 +0000",
			"Message-ID: <att_1.0@edgehook.example.com>",
			"MIME-Version: 1.0",
		]);
		expect(headers[6]).toBe("Content-Type: multipart/alternative;");
		expect(headers[7]).toMatch(/^ boundary="=_edgehook_[0-9a-f]{32}"$/);
		expect(headers).toHaveLength(8);
		for (const line of headers) expect(line.length).toBeLessThanOrEqual(MIME_HEADER_LINE_MAX);
	});

	it("puts text/plain before text/html, both UTF-8 base64", () => {
		const raw = mimeMessage(parts());
		const boundary = /boundary="([^"]+)"/.exec(raw)?.[1] ?? "";
		const sections = raw.split(`--${boundary}`);
		// Preamble, two parts, and the closing "--" epilogue.
		expect(sections).toHaveLength(4);
		expect(sections[1]).toMatch(
			/^\r\nContent-Type: text\/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n/,
		);
		expect(sections[2]).toMatch(
			/^\r\nContent-Type: text\/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n/,
		);
		expect(sections[3]).toBe("--\r\n");
	});

	it("uses CRLF throughout and base64 lines of at most 76 characters", () => {
		const text = `${"long line ".repeat(500)}\nsecond\rthird\r\nfourth`;
		const raw = mimeMessage(parts({ text, html: `<p>${"é".repeat(3000)}</p>` }));
		expectCrlfOnly(raw);
		const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
		const base64Lines = linesOf(body).filter((line) => /^[A-Za-z0-9+/=]+$/.test(line));
		expect(base64Lines.length).toBeGreaterThan(100);
		for (const line of base64Lines) expect(line.length).toBeLessThanOrEqual(MIME_BASE64_LINE_MAX);
		expect(base64Lines.filter((line) => line.length === MIME_BASE64_LINE_MAX).length).toBeGreaterThan(90);
	});

	it("round-trips a non-ASCII subject and bodies as UTF-8", async () => {
		const subject = "[commande.payée] Zoë à 東京 🎉 👩‍💻";
		const text = "Ñandú — שלום — 😀\nnext";
		const html = "<p>Grüße aus Zürich 🇨🇭</p>";
		const raw = mimeMessage(parts({ subject, text, html }));
		expect(raw).toMatch(/\r\nSubject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=/);
		// The message itself is pure ASCII; everything else is encoded.
		expect(raw).toMatch(/^[\x20-\x7e\r\n]*$/);
		const email = await PostalMime.parse(raw);
		expect(email.subject).toBe(subject);
		expect(lf(email.text)).toBe(text);
		expect(email.html).toBe(html);
	});

	it("folds a long ASCII subject within 78 characters a line and reads it back unchanged", async () => {
		const subject = `[order.paid] ${"word ".repeat(40).trim()}`;
		const raw = mimeMessage(parts({ subject }));
		for (const line of linesOf(headerBlock(raw))) expect(line.length).toBeLessThanOrEqual(MIME_HEADER_LINE_MAX);
		expect(headerBlock(raw)).toContain("\r\n word");
		expect((await PostalMime.parse(raw)).subject).toBe(subject);
	});

	it("encodes a long subject in words of whole characters, each line within 78", async () => {
		const subject = `${"ü😀".repeat(60)}${"x".repeat(120)}`;
		const raw = mimeMessage(parts({ subject }));
		const lines = linesOf(headerBlock(raw));
		for (const line of lines) expect(line.length).toBeLessThanOrEqual(MIME_HEADER_LINE_MAX);
		for (const word of raw.match(/=\?UTF-8\?B\?[^?]*\?=/g) ?? []) {
			expect(word.length).toBeLessThanOrEqual(75);
			const bytes = Uint8Array.from(atob(word.slice(10, -2)), (char) => char.charCodeAt(0));
			// Each word decodes on its own: no UTF-8 sequence is split between words.
			expect(() => new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes)).not.toThrow();
		}
		expect((await PostalMime.parse(raw)).subject).toBe(subject);
	});

	it("encodes an ASCII subject that looks like an encoded word, so it is shown as written", async () => {
		const subject = "=?UTF-8?B?SGFja2Vk?= not decoded";
		const raw = mimeMessage(parts({ subject }));
		expect(linesOf(headerBlock(raw))).not.toContain(`Subject: ${subject}`);
		expect((await PostalMime.parse(raw)).subject).toBe(subject);
	});

	it.each([
		["from", { from: "a@example.com\r\nBcc: victim@example.com" }],
		["to", { to: "ops@example.com\nBcc: victim@example.com" }],
		["one of several recipients", { to: ["ops@example.com", "x@example.com\rBcc: v@example.com"] }],
		["subject", { subject: "Hi\r\nBcc: victim@example.com" }],
		["subject with a bare LF", { subject: "Hi\n\n<html>" }],
		["message id", { messageId: "<a@b>\r\nBcc: victim@example.com" }],
	])("refuses a line break in the %s", (_, overrides) => {
		expect(() => mimeMessage(parts(overrides))).toThrow(/must not contain CR, LF or NUL/);
	});

	it.each([
		["a non-ASCII address", { to: "zoë@example.com" }],
		["an address without @", { from: "Edgehook <nobody>" }],
		["an empty recipient list", { to: [] }],
		["a message id without a domain", { messageId: "<just-an-id>" }],
		["an invalid date", { date: new Date(Number.NaN) }],
	])("refuses %s", (_, overrides) => {
		expect(() => mimeMessage(parts(overrides))).toThrow();
	});

	it("encodes a non-ASCII display name and quotes an ASCII one with specials", async () => {
		const accented = await PostalMime.parse(mimeMessage(parts({ from: "Édgehook Alerts <n@edgehook.example.com>" })));
		expect(accented.from).toEqual({ name: "Édgehook Alerts", address: "n@edgehook.example.com" });
		const comma = await PostalMime.parse(mimeMessage(parts({ from: 'Edgehook, "Inc" <n@edgehook.example.com>' })));
		expect(comma.from).toEqual({ name: 'Edgehook, "Inc"', address: "n@edgehook.example.com" });
		const quoted = mimeMessage(parts({ from: '"Edgehook, Inc" <n@edgehook.example.com>' }));
		expect(linesOf(quoted)[0]).toBe('From: "Edgehook, Inc" <n@edgehook.example.com>');
	});

	it("writes a list of recipients as one To header", async () => {
		const raw = mimeMessage(parts({ to: ["a@example.com", "Bee <b@example.com>"] }));
		expect((await PostalMime.parse(raw)).to).toEqual([
			{ name: "", address: "a@example.com" },
			{ name: "Bee", address: "b@example.com" },
		]);
	});

	it("accepts a message id without angle brackets", () => {
		expect(mimeMessage(parts({ messageId: "att_1.0@edgehook.example.com" }))).toContain(
			"\r\nMessage-ID: <att_1.0@edgehook.example.com>\r\n",
		);
	});

	it("picks a new random boundary that no body line can match", () => {
		const body = "--=_edgehook_ looks like a boundary\n--";
		const first = mimeMessage(parts({ text: body, html: body }));
		const second = mimeMessage(parts({ text: body, html: body }));
		const boundaryOf = (raw: string) => /boundary="([^"]+)"/.exec(raw)?.[1] ?? "";
		expect(boundaryOf(first)).not.toBe(boundaryOf(second));
		// Two part openings and one closing line mention it; nothing else does.
		expect(first.split(boundaryOf(first)).length - 1).toBe(4);
	});

	it("carries a built-in email layout through intact", async () => {
		const content = emailContent({
			envelope: {
				id: "evt_1",
				type: "user.créé",
				timestamp: "2024-01-15T10:00:00Z",
				data: { name: "Zoë <script>", city: "東京", note: "a\nb" },
			},
			deliveryUrl: "https://edgehook.example.com/d/1",
		});
		const raw = mimeMessage(parts(content));
		expectCrlfOnly(raw);
		const email = await PostalMime.parse(raw);
		expect(email.subject).toBe(content.subject);
		expect(lf(email.text)).toBe(content.text);
		expect(lf(email.html)).toBe(content.html);
	});
});
