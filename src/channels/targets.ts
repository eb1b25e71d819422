import { maskTargetUrl, targetUrlProblem } from "../delivery/target-url";

/** The ways an endpoint can receive its events. */
export const CHANNELS = ["webhook", "slack", "discord", "email"] as const;
export type Channel = (typeof CHANNELS)[number];

export function isChannel(value: unknown): value is Channel {
	return CHANNELS.some((channel) => channel === value);
}
/** The channels that have a built-in layout, which a tenant's template may replace. */
export const TEMPLATED_CHANNELS = ["slack", "discord", "email"] as const;
export type TemplatedChannel = (typeof TEMPLATED_CHANNELS)[number];

/** Most addresses one email endpoint may hold; each is one message per delivery. */
export const MAX_EMAIL_RECIPIENTS = 20;

/**
 * Where each chat service's incoming webhooks live. Held to in production
 * only, so that development can point a channel at a local receiver.
 */
const CHAT_WEBHOOK_PREFIXES: Record<"slack" | "discord", readonly string[]> = {
	slack: ["https://hooks.slack.com/"],
	discord: [
		"https://discord.com/api/webhooks/",
		"https://discordapp.com/api/webhooks/",
		"https://ptb.discord.com/api/webhooks/",
		"https://canary.discord.com/api/webhooks/",
	],
};

/**
 * Why `url` cannot be this chat channel's target, or null. The general URL rules are checked apart.
 *
 * The prefix is held to the URL as fetch will resolve it, since dot segments
 * (`/api/webhooks/../../x`, also escaped as `%2e%2e`), backslashes and the
 * like lead elsewhere on the service than the text reads. A URL that resolves
 * to another text is refused even when it stays under the prefix: the service
 * hands out its webhook URLs in their plain form, and the stored URL must be
 * the one that is called. The message names no part of the URL, because it
 * also becomes a delivery's error, which read-only viewers see.
 */
function chatUrlProblem(channel: Channel, url: string, environment: string): string | null {
	if (channel !== "slack" && channel !== "discord") return null;
	if (environment !== "production") return null;
	const prefixes = CHAT_WEBHOOK_PREFIXES[channel];
	const service = channel === "slack" ? "a Slack incoming-webhook URL" : "a Discord webhook URL";
	const resolved = URL.parse(url)?.href ?? "";
	if (!prefixes.some((prefix) => resolved.startsWith(prefix))) {
		const note = resolved === url ? "" : ", once its dot segments, escapes and backslashes are resolved";
		return `must be ${service} (${prefixes.join(" or ")}…)${note}`;
	}
	if (resolved !== url) {
		return `must be ${service} as the service gives it: this one reads differently once its dot segments (. and .., also escaped as %2e), backslashes, letter case or other unusual forms are resolved`;
	}
	return null;
}

/** Why `url` cannot be an endpoint of `channel` here: the general URL rules, then the chat service's host. */
export function endpointUrlProblem(channel: Channel, url: string, environment: string): string | null {
	return targetUrlProblem(url, environment) ?? chatUrlProblem(channel, url, environment);
}

/** The email channel's addresses; null for the other channels. */
export function recipientsOf(endpoint: { recipients: string | null }): string[] | null {
	return endpoint.recipients === null ? null : (JSON.parse(endpoint.recipients) as string[]);
}

/**
 * Where an endpoint sends, as operational events say it: its URL masked
 * (maskTargetUrl), because those events go to other endpoints and into the
 * event log that read-only portals show, or for the email channel a
 * `mailto:` of its addresses (RFC 6068), which are no credential.
 */
export function maskedEndpointAddress(endpoint: { channel: Channel; url: string; recipients: string | null }): string {
	if (endpoint.channel !== "email") return maskTargetUrl(endpoint.url);
	return `mailto:${(recipientsOf(endpoint) ?? []).join(",")}`;
}
