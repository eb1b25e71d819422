import type { EmailContent } from "./email-content";
import { mimeMessage } from "./mime";

/** The sender as configured (`Name <address>` or a bare address), split for the envelope and the header. */
export function parseSender(configured: string): { address: string; header: string } | null {
	const text = configured.trim();
	const named = /^(.*)<([^<>\s]+@[^<>\s]+)>$/.exec(text);
	if (named?.[2] !== undefined) return { address: named[2], header: text };
	return /^[^<>\s@]+@[^<>\s@]+$/.test(text) ? { address: text, header: text } : null;
}

export interface EmailSendResult {
	startedAtMs: number;
	durationMs: number;
	delivered: string[];
	refused: { address: string; reason: string }[];
	/**
	 * Why nothing could be handed to the platform at all (the sender setting,
	 * a message that cannot be written): the deployment's or the template's
	 * fault, never the recipients'.
	 */
	problem: string | null;
}

export interface EmailSendRequest {
	binding: SendEmail;
	sender: string;
	to: readonly string[];
	content: EmailContent;
	/** Unique per attempt, so a retry is a new message and each recipient's copy can be told apart. */
	messageKey: string;
	timeoutMs: number;
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const timeout = new Promise<never>((_resolve, reject) => {
		timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
	});
	return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Sends one message per recipient through the send_email binding, so one
 * refused address does not stop the others, and each refusal is reported
 * with the platform's own reason. Never throws.
 */
export async function sendEmail(request: EmailSendRequest): Promise<EmailSendResult> {
	const startedAtMs = Date.now();
	const result: EmailSendResult = { startedAtMs, durationMs: 0, delivered: [], refused: [], problem: null };
	const sender = parseSender(request.sender);
	if (sender === null) {
		result.problem = `EMAIL_FROM (${JSON.stringify(request.sender)}) is not a sender address`;
		return result;
	}
	const domain = sender.address.slice(sender.address.indexOf("@") + 1);
	let messages: { address: string; raw: string }[];
	try {
		messages = request.to.map((address, index) => ({
			address,
			raw: mimeMessage({
				from: sender.header,
				to: [address],
				subject: request.content.subject,
				text: request.content.text,
				html: request.content.html,
				messageId: `<${request.messageKey}.${index}@${domain}>`,
				date: new Date(startedAtMs),
			}),
		}));
	} catch (error) {
		result.problem = `the message could not be written: ${error instanceof Error ? error.message : String(error)}`;
		return result;
	}
	// Imported here rather than at the top so the module also loads outside workerd (the OpenAPI script).
	const { EmailMessage } = await import("cloudflare:email");
	await Promise.all(
		messages.map(async ({ address, raw }) => {
			try {
				await withTimeout(request.binding.send(new EmailMessage(sender.address, address, raw)), request.timeoutMs);
				result.delivered.push(address);
			} catch (error) {
				result.refused.push({ address, reason: error instanceof Error ? error.message : String(error) });
			}
		}),
	);
	result.durationMs = Date.now() - startedAtMs;
	return result;
}
