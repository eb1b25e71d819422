/**
 * The email the worker sent through its `send_email` binding under
 * `wrangler dev`. Nothing leaves the machine: miniflare's send_email worker
 * checks each message (it parses it, and the From header must match the
 * envelope sender), stores the raw MIME through its temp-file endpoint (a
 * copy lands under the project's `.wrangler/tmp/email/…`) and logs
 * `Email: <path>` among wrangler's output, which the harness writes to a file
 * (`target().wranglerLog`). This reads those lines and parses each file with
 * postal-mime, as a mail client would.
 */

import { readFile } from "node:fs/promises";
import PostalMime from "postal-mime";
import { target } from "./context";
import { done, notYet, type Poll, waitFor } from "./wait";

/** One sent message, parsed. */
export interface CapturedEmail {
	/** Where wrangler stored it. */
	path: string;
	raw: string;
	/** The From header as written, e.g. `Edgehook <edgehook@example.com>`. */
	fromHeader: string;
	from: { name: string; address: string } | null;
	/** Addresses of the To header. */
	to: string[];
	subject: string;
	text: string;
	html: string;
	/** Lower-cased header names, values as written (unfolded). */
	headers: Record<string, string>;
}

// Colour codes around the log line would otherwise end up in the path.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC.
const ANSI = /\u001b\[[0-9;]*m/g;
const EMAIL_LINE = /^Email: (.+\.eml)\s*$/gm;

const parsed = new Map<string, CapturedEmail>();

/** The wrangler log of this run; throws when the server was not started by the harness. */
export function wranglerLogPath(): string {
	const path = target().wranglerLog;
	if (path === "") {
		throw new Error(
			"the email tests read wrangler's output: run them with the server the harness starts, " +
				"or give E2E_WRANGLER_LOG_FILE with E2E_BASE_URL",
		);
	}
	return path;
}

async function parseFile(path: string): Promise<CapturedEmail> {
	const cached = parsed.get(path);
	if (cached !== undefined) return cached;
	const bytes = await readFile(path);
	const email = await PostalMime.parse(bytes);
	const headers: Record<string, string> = {};
	for (const header of email.headers) headers[header.key] = header.value;
	const from = email.from !== undefined && email.from.address !== undefined ? email.from : null;
	const captured: CapturedEmail = {
		path,
		raw: bytes.toString("utf8"),
		fromHeader: headers.from ?? "",
		from: from === null ? null : { name: from.name, address: from.address ?? "" },
		to: (email.to ?? []).flatMap((address) =>
			address.address !== undefined ? [address.address] : address.group.map((member) => member.address),
		),
		subject: email.subject ?? "",
		text: email.text ?? "",
		html: email.html ?? "",
		headers,
	};
	parsed.set(path, captured);
	return captured;
}

/** Every message the log names so far, in the order they were logged. */
export async function capturedEmails(): Promise<CapturedEmail[]> {
	const log = (await readFile(wranglerLogPath(), "utf8")).replace(ANSI, "");
	const paths = [...log.matchAll(EMAIL_LINE)].map((match) => (match[1] ?? "").trim());
	return Promise.all(paths.map(parseFile));
}

/** Waits until `count` messages addressed to `address` were logged; resolves with them. */
export async function waitForEmailsTo(address: string, count: number, timeoutMs = 20_000): Promise<CapturedEmail[]> {
	return waitFor(
		`${count} email(s) to ${address} in the wrangler log`,
		async (): Promise<Poll<CapturedEmail[]>> => {
			const all = await capturedEmails();
			const mine = all.filter((email) => email.to.includes(address));
			return mine.length >= count
				? done(mine)
				: notYet(`${mine.length} to it; ${all.length} in all, to ${all.map((email) => email.to.join(",")).join(" ")}`);
		},
		{ timeoutMs, intervalMs: 200 },
	);
}

/** Messages to `address` logged so far. */
export async function emailsTo(address: string): Promise<CapturedEmail[]> {
	return (await capturedEmails()).filter((email) => email.to.includes(address));
}
