/** RFC 2045: base64 lines are at most 76 characters. */
export const MIME_BASE64_LINE_MAX = 76;
/** RFC 5322: a header line should stay within 78 characters; we fold to meet it. */
export const MIME_HEADER_LINE_MAX = 78;
/** RFC 5322: no line may exceed 998 characters. */
export const MIME_LINE_HARD_MAX = 998;

export interface MimeParts {
	/** `address@domain` or `Display Name <address@domain>`. */
	from: string;
	/** Notifications go out as one message per address, but a list is written as one To header. */
	to: string | readonly string[];
	subject: string;
	text: string;
	html: string;
	/** With or without the angle brackets; it is written as `<…>`. */
	messageId: string;
	date: Date;
}

const CRLF = "\r\n";
/**
 * Bytes per RFC 2047 word: 42 bytes are 56 base64 characters, a 68-character
 * word (the RFC allows 75), so even the first one fits after `Subject: ` in 78.
 */
const ENCODED_WORD_BYTES = 42;

const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
	let binary = "";
	// Chunked so String.fromCharCode never gets more arguments than the engine allows.
	for (let start = 0; start < bytes.length; start += 0x8000) {
		binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
	}
	return btoa(binary);
}

function isPrintableAscii(text: string): boolean {
	return /^[\x20-\x7e]*$/.test(text);
}

/**
 * Header values come from settings and events; a line break in one would let
 * it add headers (Bcc) or end the header block, so it is refused outright.
 */
function assertHeaderSafe(name: string, value: string): void {
	if (/[\r\n\0]/.test(value)) throw new Error(`${name} must not contain CR, LF or NUL`);
}

/**
 * RFC 2047 B-encoded words, each holding whole characters (a word may not
 * split a UTF-8 sequence), joined by folding whitespace.
 */
function encodedWords(text: string): string {
	const words: string[] = [];
	let chunk: number[] = [];
	for (const codePoint of text) {
		const bytes = encoder.encode(codePoint);
		if (chunk.length + bytes.length > ENCODED_WORD_BYTES) {
			words.push(`=?UTF-8?B?${base64(Uint8Array.from(chunk))}?=`);
			chunk = [];
		}
		chunk.push(...bytes);
	}
	if (chunk.length > 0 || words.length === 0) words.push(`=?UTF-8?B?${base64(Uint8Array.from(chunk))}?=`);
	return words.join(`${CRLF} `);
}

/**
 * Folds printable ASCII at spaces so no line passes 78 characters, or returns
 * null when a word is too long to fold that way.
 */
function foldAscii(prefix: string, text: string): string | null {
	const lines: string[] = [];
	let line = prefix;
	for (const [index, word] of text.split(" ").entries()) {
		const candidate = index === 0 ? line + word : `${line} ${word}`;
		if (candidate.length <= MIME_HEADER_LINE_MAX || index === 0) {
			line = candidate;
		} else {
			lines.push(line);
			line = ` ${word}`;
		}
		if (line.length > MIME_HEADER_LINE_MAX) return null;
	}
	lines.push(line);
	return lines.join(CRLF);
}

/**
 * The Subject header. Plain ASCII stays readable; anything else, and text that
 * a client would itself mistake for an encoded word (`=?`), is RFC 2047 encoded.
 */
function subjectHeader(subject: string): string {
	if (isPrintableAscii(subject) && !subject.includes("=?")) {
		const folded = foldAscii("Subject: ", subject);
		if (folded !== null) return folded;
	}
	return `Subject: ${encodedWords(subject)}`;
}

/**
 * One mailbox of an address header. A non-ASCII display name is encoded; the
 * address itself must be ASCII, since SMTPUTF8 is not something a notification
 * can count on.
 */
function mailbox(name: string, value: string): string {
	assertHeaderSafe(name, value);
	const trimmed = value.trim();
	const named = /^(.*?)\s*<([^<>]+)>$/.exec(trimmed);
	const display = named?.[1]?.trim() ?? "";
	const address = named?.[2] ?? trimmed;
	if (!/^[\x21-\x7e]+$/.test(address) || !address.includes("@")) {
		throw new Error(`${name} must be an ASCII email address`);
	}
	if (display === "") return named === null ? address : `<${address}>`;
	// An already quoted name is unquoted first, so it is not quoted twice.
	const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(display);
	const plain = quoted?.[1] === undefined ? display : quoted[1].replace(/\\(.)/g, "$1");
	const phrase = isPrintableAscii(plain) ? `"${plain.replace(/(["\\])/g, "\\$1")}"` : encodedWords(plain);
	return `${phrase} <${address}>`;
}

function addressHeader(name: string, value: string | readonly string[]): string {
	const values = typeof value === "string" ? [value] : value;
	if (values.length === 0) throw new Error(`${name} needs at least one address`);
	return `${name}: ${values.map((one) => mailbox(name, one)).join(`,${CRLF} `)}`;
}

/** `Mon, 15 Jan 2024 10:00:00 +0000`: RFC 5322's date, with a numeric zone rather than the obsolete GMT. */
function rfc5322Date(date: Date): string {
	if (Number.isNaN(date.getTime())) throw new Error("date must be a valid Date");
	return date.toUTCString().replace(/GMT$/, "+0000");
}

/** A text body as RFC 2046 wants it (CRLF line breaks), base64 in lines of 76. */
function base64Body(text: string): string {
	const canonical = text.replace(/\r\n|\r|\n/g, CRLF);
	const encoded = base64(encoder.encode(canonical));
	const lines: string[] = [];
	for (let start = 0; start < encoded.length; start += MIME_BASE64_LINE_MAX) {
		lines.push(encoded.slice(start, start + MIME_BASE64_LINE_MAX));
	}
	return lines.join(CRLF);
}

/**
 * `=_` cannot occur in base64 (where `=` only pads the end), so the boundary
 * can never match a body line; the random part keeps it unique per message.
 */
function randomBoundary(): string {
	const bytes = crypto.getRandomValues(new Uint8Array(16));
	return `=_edgehook_${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * A complete RFC 5322 message (CRLF throughout) with the text and HTML bodies
 * as multipart/alternative, ready for an EmailMessage of `cloudflare:email`.
 * Throws when a header value would break out of its header.
 */
export function mimeMessage(parts: MimeParts): string {
	assertHeaderSafe("Subject", parts.subject);
	assertHeaderSafe("Message-ID", parts.messageId);
	const id = parts.messageId.replace(/^<|>$/g, "");
	if (!/^[\x21-\x7e]+@[\x21-\x7e]+$/.test(id) || /[<>]/.test(id)) {
		throw new Error("messageId must look like local@domain");
	}

	const boundary = randomBoundary();
	const textBody = base64Body(parts.text);
	const htmlBody = base64Body(parts.html);
	const headers = [
		addressHeader("From", parts.from),
		addressHeader("To", parts.to),
		subjectHeader(parts.subject),
		`Date: ${rfc5322Date(parts.date)}`,
		`Message-ID: <${id}>`,
		"MIME-Version: 1.0",
		// Folded: on one line with the boundary it would pass 78 characters.
		`Content-Type: multipart/alternative;${CRLF} boundary="${boundary}"`,
	];
	for (const header of headers) {
		for (const line of header.split(CRLF)) {
			if (line.length > MIME_LINE_HARD_MAX) throw new Error("a header line is longer than 998 characters");
		}
	}
	const part = (contentType: string, body: string) => [
		`--${boundary}`,
		`Content-Type: ${contentType}; charset=UTF-8`,
		"Content-Transfer-Encoding: base64",
		"",
		body,
	];
	return [...headers, "", ...part("text/plain", textBody), ...part("text/html", htmlBody), `--${boundary}--`, ""].join(
		CRLF,
	);
}
