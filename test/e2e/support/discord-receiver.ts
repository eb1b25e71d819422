/**
 * A stand-in for a Discord webhook URL. The limits are written here from
 * Discord's developer documentation (Message resource, "Embed Limits"; Webhook
 * resource, "Execute Webhook"), not taken from src/:
 *
 * - `content` at most 2,000 characters; a message needs content or embeds;
 * - at most 10 embeds;
 * - per embed: title at most 256, description at most 4,096, at most 25
 *   fields, each with a name (1..256) and a value (1..1,024), footer text
 *   1..2,048, author name at most 256;
 * - the title, description, field names and values, footer text and author
 *   names of all embeds together at most 6,000;
 * - `timestamp` ISO 8601 and `url` a URL when present.
 *
 * On top of Discord's rules, Edgehook promises that nothing it posts pings
 * anyone: `allowed_mentions` must be present with `parse: []`.
 *
 * Discord answers 204 No Content to a message it posts (no `?wait=true`), and
 * 400 with code 50035 "Invalid Form Body" to one it refuses.
 */

import { ChatReceiver, type ChatService, checkString, isRecord, textLength } from "./chat-receiver";

export const DISCORD_LIMITS = {
	content: 2000,
	embeds: 10,
	title: 256,
	description: 4096,
	fields: 25,
	fieldName: 256,
	fieldValue: 1024,
	footer: 2048,
	authorName: 256,
	total: 6000,
} as const;

const EMBED_KEYS = [
	"title",
	"type",
	"description",
	"url",
	"timestamp",
	"color",
	"footer",
	"image",
	"thumbnail",
	"author",
	"fields",
];

/** The embed's problems; `counted` gets the lengths that count towards the 6,000 total. */
function embedProblems(embed: unknown, where: string, counted: number[]): string[] {
	if (!isRecord(embed)) return [`${where} must be an object`];
	const problems = Object.keys(embed)
		.filter((key) => !EMBED_KEYS.includes(key))
		.map((key) => `${where} has a field Discord does not define: ${key}`);
	const optional = (value: unknown, name: string, max: number): void => {
		if (value === undefined) return;
		problems.push(...checkString(value, `${where}.${name}`, 1, max));
		if (typeof value === "string") counted.push(textLength(value));
	};
	optional(embed.title, "title", DISCORD_LIMITS.title);
	optional(embed.description, "description", DISCORD_LIMITS.description);
	if (embed.url !== undefined && (typeof embed.url !== "string" || !URL.canParse(embed.url))) {
		problems.push(`${where}.url must be a URL`);
	}
	if (
		embed.timestamp !== undefined &&
		(typeof embed.timestamp !== "string" ||
			!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(embed.timestamp))
	) {
		problems.push(`${where}.timestamp must be an ISO 8601 timestamp, is ${JSON.stringify(embed.timestamp)}`);
	}
	if (embed.color !== undefined && !Number.isInteger(embed.color)) problems.push(`${where}.color must be an integer`);
	if (embed.footer !== undefined) {
		if (!isRecord(embed.footer)) problems.push(`${where}.footer must be an object`);
		else {
			problems.push(...checkString(embed.footer.text, `${where}.footer.text`, 1, DISCORD_LIMITS.footer));
			if (typeof embed.footer.text === "string") counted.push(textLength(embed.footer.text));
		}
	}
	if (embed.author !== undefined) {
		if (!isRecord(embed.author)) problems.push(`${where}.author must be an object`);
		else optional(embed.author.name, "author.name", DISCORD_LIMITS.authorName);
	}
	if (embed.fields !== undefined) {
		if (!Array.isArray(embed.fields)) {
			problems.push(`${where}.fields must be an array`);
		} else {
			if (embed.fields.length > DISCORD_LIMITS.fields) {
				problems.push(`${where}.fields has ${embed.fields.length} items, at most ${DISCORD_LIMITS.fields}`);
			}
			embed.fields.forEach((field: unknown, index) => {
				const at = `${where}.fields[${index}]`;
				if (!isRecord(field)) {
					problems.push(`${at} must be an object`);
					return;
				}
				problems.push(...checkString(field.name, `${at}.name`, 1, DISCORD_LIMITS.fieldName));
				problems.push(...checkString(field.value, `${at}.value`, 1, DISCORD_LIMITS.fieldValue));
				// Discord refuses a name or value of only whitespace as empty.
				if (typeof field.name === "string" && field.name.trim() === "") problems.push(`${at}.name is blank`);
				if (typeof field.value === "string" && field.value.trim() === "") problems.push(`${at}.value is blank`);
				if (field.inline !== undefined && typeof field.inline !== "boolean") {
					problems.push(`${at}.inline must be a boolean`);
				}
				if (typeof field.name === "string") counted.push(textLength(field.name));
				if (typeof field.value === "string") counted.push(textLength(field.value));
			});
		}
	}
	return problems;
}

/** Every documented rule the message breaks, plus Edgehook's no-ping rule; empty when it is fine. */
export function discordProblems(body: unknown): string[] {
	if (!isRecord(body)) return ["the message must be a JSON object"];
	const problems: string[] = [];
	if (body.content !== undefined) problems.push(...checkString(body.content, "content", 0, DISCORD_LIMITS.content));
	const embeds = body.embeds;
	if (embeds !== undefined && !Array.isArray(embeds)) problems.push("embeds must be an array");
	const embedList: unknown[] = Array.isArray(embeds) ? embeds : [];
	if ((typeof body.content !== "string" || body.content === "") && embedList.length === 0) {
		problems.push("Cannot send an empty message: no content and no embeds");
	}
	if (embedList.length > DISCORD_LIMITS.embeds) {
		problems.push(`embeds has ${embedList.length} items, at most ${DISCORD_LIMITS.embeds}`);
	}
	const counted: number[] = [];
	embedList.forEach((embed, index) => {
		problems.push(...embedProblems(embed, `embeds[${index}]`, counted));
	});
	const total = counted.reduce((sum, length) => sum + length, 0);
	if (total > DISCORD_LIMITS.total) {
		problems.push(`the embeds hold ${total} characters in all, at most ${DISCORD_LIMITS.total}`);
	}
	const mentions = body.allowed_mentions;
	if (!isRecord(mentions) || !Array.isArray(mentions.parse) || mentions.parse.length !== 0) {
		problems.push(`allowed_mentions must be {"parse": []}, is ${JSON.stringify(mentions)}`);
	}
	return problems;
}

export const DISCORD: ChatService = {
	name: "Discord",
	validate: discordProblems,
	accepted: { status: 204 },
	refused: (problems) => ({
		status: 400,
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ message: "Invalid Form Body", code: 50035, errors: problems }),
	}),
};

/** A Discord stand-in on a path shaped like a webhook URL's. */
export function startDiscordReceiver(): Promise<ChatReceiver> {
	return ChatReceiver.start(DISCORD, "/api/webhooks/1234567890/e2eDiscordHookToken");
}

export interface DiscordEmbedSeen {
	title: string;
	description?: string;
	url?: string;
	timestamp?: string;
	fields: Array<{ name: string; value: string; inline?: boolean }>;
	footer: { text: string };
}

export interface DiscordMessageSeen {
	content?: string;
	embeds: DiscordEmbedSeen[];
	allowed_mentions: { parse: string[] };
}

/** The received body as a Discord message, once `discordProblems` found it valid. */
export function asDiscordMessage(json: unknown): DiscordMessageSeen {
	const problems = discordProblems(json);
	if (problems.length > 0) throw new Error(`not a valid Discord message: ${problems.join("; ")}`);
	return json as DiscordMessageSeen;
}
