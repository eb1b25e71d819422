import { escapeAndTruncate, importantFields, truncate } from "./fields";
import type { NotificationInput } from "./input";

// Embed and message limits (Discord developer docs, Message resource: "Embed
// Limits" and Execute Webhook). The total counts title, description, field
// names and values, footer text and author name across all embeds.
export const DISCORD_TITLE_MAX = 256;
export const DISCORD_DESCRIPTION_MAX = 4096;
export const DISCORD_FIELDS_MAX = 25;
export const DISCORD_FIELD_NAME_MAX = 256;
export const DISCORD_FIELD_VALUE_MAX = 1024;
export const DISCORD_FOOTER_MAX = 2048;
export const DISCORD_EMBED_TOTAL_MAX = 6000;
export const DISCORD_EMBEDS_MAX = 10;
export const DISCORD_CONTENT_MAX = 2000;

/** Values up to this long sit side by side; longer ones get the embed's full width. */
const INLINE_VALUE_MAX = 40;

export interface DiscordEmbedField {
	name: string;
	value: string;
	inline: boolean;
}

export interface DiscordEmbed {
	title: string;
	description?: string;
	url?: string;
	fields: DiscordEmbedField[];
	footer: { text: string };
	/** ISO 8601; left out when the event's timestamp does not parse, since Discord refuses the whole message then. */
	timestamp?: string;
}

export interface DiscordMessage {
	content?: string;
	embeds: DiscordEmbed[];
	/** Always empty: nothing in a notification may ping a user, a role or @everyone. */
	allowed_mentions: { parse: never[] };
}

const ALWAYS_ESCAPED = new Set(["\\", "*", "_", "~", "`", "|", "[", "]", "<", ">"]);
const ESCAPED_AT_LINE_START = new Set(["#", "-"]);

/**
 * Discord renders markdown in embed titles, field names and values: escaped,
 * data cannot turn into masked links, spoilers, headings or mention syntax, and
 * a key like `_id_` stays as written. (allowed_mentions already stops pings.)
 */
function escapeMarkdown(codePoint: string, previous: string | undefined): string {
	if (ALWAYS_ESCAPED.has(codePoint)) return `\\${codePoint}`;
	if (ESCAPED_AT_LINE_START.has(codePoint) && (previous === undefined || previous === "\n")) return `\\${codePoint}`;
	return codePoint;
}

/** Text made safe for Discord markdown, whole: what a template calls as `$escapeMarkdown`. */
export function escapeDiscordMarkdown(text: string): string {
	return escapeAndTruncate(text, Number.POSITIVE_INFINITY, escapeMarkdown);
}

/** Data made safe for Discord markdown and cut to `limit` as Discord counts it (after escaping). */
export function discordText(text: string, limit: number): string {
	// Discord refuses an empty or blank field name or value; showing the JSON
	// string makes an empty value visible as such.
	const visible = text.trim() === "" ? JSON.stringify(text) : text;
	return escapeAndTruncate(visible, limit, escapeMarkdown);
}

/**
 * The largest per-item cap at which the items, each cut to it, fit in `budget`:
 * short items keep their full text and the long ones share what remains evenly.
 */
function fairCap(lengths: number[], max: number, budget: number): number {
	let low = 1;
	let high = max;
	while (low < high) {
		const mid = Math.ceil((low + high) / 2);
		const total = lengths.reduce((sum, length) => sum + Math.min(length, mid), 0);
		if (total <= budget) low = mid;
		else high = mid - 1;
	}
	return low;
}

function isoTimestamp(text: string): string | undefined {
	const ms = Date.parse(text);
	return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * The built-in Discord layout of an event: one embed titled with the event
 * type (linking to the delivery when there is a page), a field per important
 * data field, and the event id in the footer.
 */
export function discordMessage(input: NotificationInput): DiscordMessage {
	const { envelope, deliveryUrl } = input;
	const title = discordText(envelope.type, DISCORD_TITLE_MAX);
	// Footers are plain text in Discord, so the id is cut but not escaped.
	const footer = truncate(`Event ${envelope.id}`, DISCORD_FOOTER_MAX);

	const fields = importantFields(envelope.data, DISCORD_FIELDS_MAX);
	let names = fields.map((field) => discordText(field.name, DISCORD_FIELD_NAME_MAX));
	let budget = DISCORD_EMBED_TOTAL_MAX - title.length - footer.length;
	// Names may take up to half of what is left; values share the rest.
	const nameCap = fairCap(
		names.map((name) => name.length),
		DISCORD_FIELD_NAME_MAX,
		Math.floor(budget / 2),
	);
	names = fields.map((field) => discordText(field.name, nameCap));
	budget -= names.reduce((sum, name) => sum + name.length, 0);
	const fullValues = fields.map((field) => discordText(field.value, DISCORD_FIELD_VALUE_MAX));
	const valueCap = fairCap(
		fullValues.map((value) => value.length),
		DISCORD_FIELD_VALUE_MAX,
		budget,
	);

	const embed: DiscordEmbed = {
		title,
		fields: fields.map((field, index) => {
			const value = discordText(field.value, valueCap);
			return {
				name: names[index] ?? field.name,
				value,
				inline: value.length <= INLINE_VALUE_MAX && !value.includes("\n"),
			};
		}),
		footer: { text: footer },
	};
	if (deliveryUrl !== null) embed.url = deliveryUrl;
	const timestamp = isoTimestamp(envelope.timestamp);
	if (timestamp !== undefined) embed.timestamp = timestamp;

	return { embeds: [embed], allowed_mentions: { parse: [] } };
}
