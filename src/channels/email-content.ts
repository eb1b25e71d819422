import { ELLIPSIS, importantFields, truncate } from "./fields";
import type { NotificationInput } from "./input";

/** Long subjects are cut by mail clients anyway; this keeps the header to a few folded lines. */
export const EMAIL_SUBJECT_MAX = 200;
/** An email has no platform limit, so these keep a notification a notification. */
export const EMAIL_FIELDS_MAX = 50;
export const EMAIL_VALUE_MAX = 2000;
export const EMAIL_NAME_MAX = 200;
/** How much of the event type the subject spends before its summary. */
const SUBJECT_TYPE_MAX = 100;

export interface EmailContent {
	subject: string;
	text: string;
	html: string;
}

/** Line breaks, tabs and other controls (and the Unicode line separators) become one space. */
function singleLine(text: string): string {
	return text
		.replace(/[\p{Cc}\u2028\u2029]+/gu, " ")
		.replace(/ {2,}/g, " ")
		.trim();
}

export function escapeHtml(text: string): string {
	return text
		.replace(/&/g, "&amp;")
		.replace(/</g, "&lt;")
		.replace(/>/g, "&gt;")
		.replace(/"/g, "&quot;")
		.replace(/'/g, "&#39;");
}

/** Only a web address may become a link; anything else (javascript:, data:) is shown as text. */
function isWebUrl(text: string): boolean {
	try {
		const url = new URL(text);
		return url.protocol === "https:" || url.protocol === "http:";
	} catch {
		return false;
	}
}

/** A multi-line value lines up under its first line in the plain text body. */
function indentContinuation(text: string): string {
	return text.replace(/\r\n|\r|\n/g, "\n  ");
}

const FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";
const CELL = "padding:6px 12px 6px 0;vertical-align:top;border-bottom:1px solid #e5e7eb";

/**
 * The built-in email layout of an event: a subject naming the type and its
 * first field, and the same fields, id, time and delivery link as plain text
 * and as HTML with inline styles only (mail clients drop style sheets).
 */
export function emailContent(input: NotificationInput): EmailContent {
	const { envelope, deliveryUrl } = input;
	const fields = importantFields(envelope.data, EMAIL_FIELDS_MAX).map((field) => ({
		name: truncate(field.name, EMAIL_NAME_MAX),
		value: truncate(field.value, EMAIL_VALUE_MAX),
	}));
	const link = deliveryUrl !== null && isWebUrl(deliveryUrl) ? deliveryUrl : null;

	const type = truncate(singleLine(envelope.type), SUBJECT_TYPE_MAX);
	const first = fields[0];
	const summary =
		first !== undefined && first.name !== ELLIPSIS ? `${first.name}: ${first.value}` : `event ${envelope.id}`;
	const subject = truncate(singleLine(`[${type}] ${summary}`), EMAIL_SUBJECT_MAX);

	const heading = truncate(envelope.type, EMAIL_NAME_MAX);
	const textLines = [heading, ""];
	for (const field of fields) textLines.push(`${field.name}: ${indentContinuation(field.value)}`);
	if (fields.length > 0) textLines.push("");
	textLines.push(`Event: ${envelope.id}`, `Time: ${envelope.timestamp}`);
	if (link !== null) textLines.push(`View delivery: ${link}`);
	const text = `${textLines.join("\n")}\n`;

	const rows = fields
		.map(
			(field) =>
				`<tr><th align="left" style="${CELL};font-weight:600;white-space:nowrap">${escapeHtml(field.name)}</th>` +
				`<td style="${CELL};white-space:pre-wrap;word-break:break-word">${escapeHtml(field.value)}</td></tr>`,
		)
		.join("");
	const html = [
		"<!doctype html>",
		'<html><head><meta charset="utf-8"></head>',
		`<body style="margin:0;padding:24px;background:#ffffff;color:#111827;${FONT};font-size:14px;line-height:1.5">`,
		`<h1 style="margin:0 0 16px;font-size:18px;font-weight:600">${escapeHtml(heading)}</h1>`,
		rows === ""
			? ""
			: `<table cellpadding="0" cellspacing="0" style="border-collapse:collapse;margin:0 0 16px">${rows}</table>`,
		`<p style="margin:0 0 16px;color:#6b7280;font-size:12px">Event ${escapeHtml(envelope.id)} · ${escapeHtml(envelope.timestamp)}</p>`,
		link === null
			? ""
			: `<p style="margin:0"><a href="${escapeHtml(link)}" style="color:#2563eb">View delivery</a></p>`,
		"</body></html>",
	].join("\n");

	return { subject, text, html };
}
