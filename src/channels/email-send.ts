import type { EmailContent } from "./email-content";
import { mimeMessage } from "./mime";

/** The sender as configured (`Name <address>` or a bare address), split for the envelope and the header. */
export function parseSender(configured: string): { address: string; header: string } | null {
	const text = configured.trim();
	const named = /^(.*)<([^<>\s]+@[^<>\s]+)>$/.exec(text);
	if (named?.[2] !== undefined) return { address: named[2], header: text };
	return /^[^<>\s@]+@[^<>\s@]+$/.test(text) ? { address: text, header: text } : null;
}

/**
 * Whether the operator lets `tenantId` use the email channel. Its messages go
 * out from EMAIL_FROM, the operator's own address, with the HTML a tenant
 * writes, so EMAIL_TENANTS may name the tenants trusted with that (ids
 * separated by spaces or commas); empty, it lets every tenant.
 */
export function emailAllowedFor(emailTenants: string | undefined, tenantId: string): boolean {
	const named = (emailTenants ?? "").split(/[\s,]+/).filter((id) => id !== "");
	return named.length === 0 || named.includes(tenantId);
}

/** Why a tenant not named in EMAIL_TENANTS has no email channel, for the API's answer and a delivery's error alike. */
export const EMAIL_NOT_ALLOWED =
	"the operator allows the email channel only for the tenants named in EMAIL_TENANTS, and this tenant is not one of them";

/** Why `tenantId` cannot have email endpoints on this deployment (no usable sender, or not allowed), or null. */
export function emailChannelProblem(env: Pick<Env, "EMAIL_FROM" | "EMAIL_TENANTS">, tenantId: string): string | null {
	if (parseSender(env.EMAIL_FROM) === null) {
		return env.EMAIL_FROM.trim() === ""
			? "email needs a sender: this deployment has no EMAIL_FROM configured"
			: "email needs a sender: this deployment's EMAIL_FROM is not an address";
	}
	return emailAllowedFor(env.EMAIL_TENANTS, tenantId) ? null : EMAIL_NOT_ALLOWED;
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
