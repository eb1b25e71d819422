import { describe, expect, it } from "vitest";
import {
	DISCORD_EMBED_TOTAL_MAX,
	DISCORD_EMBEDS_MAX,
	DISCORD_FIELD_NAME_MAX,
	DISCORD_FIELD_VALUE_MAX,
	DISCORD_FIELDS_MAX,
	DISCORD_FOOTER_MAX,
	DISCORD_TITLE_MAX,
	type DiscordMessage,
	discordMessage,
} from "../../src/channels/discord";
import type { NotificationInput } from "../../src/channels/input";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function input(data: unknown, overrides: Partial<NotificationInput["envelope"]> = {}): NotificationInput {
	return {
		envelope: { id: "evt_1", type: "order.paid", timestamp: "2024-01-15T10:00:00Z", data, ...overrides },
		deliveryUrl: "https://edgehook.example.com/dashboard/deliveries/dlv_1",
	};
}

/** What Discord adds up against its 6000-character rule, for one message. */
function embedTextLength(message: DiscordMessage): number {
	let total = 0;
	for (const embed of message.embeds) {
		total += embed.title.length + (embed.description?.length ?? 0) + embed.footer.text.length;
		for (const field of embed.fields) total += field.name.length + field.value.length;
	}
	return total;
}

function expectWithinLimits(message: DiscordMessage): void {
	expect(message.allowed_mentions).toEqual({ parse: [] });
	expect(message.embeds.length).toBeGreaterThan(0);
	expect(message.embeds.length).toBeLessThanOrEqual(DISCORD_EMBEDS_MAX);
	for (const embed of message.embeds) {
		expect(embed.title.length).toBeLessThanOrEqual(DISCORD_TITLE_MAX);
		expect(embed.footer.text.length).toBeLessThanOrEqual(DISCORD_FOOTER_MAX);
		expect(embed.fields.length).toBeLessThanOrEqual(DISCORD_FIELDS_MAX);
		for (const field of embed.fields) {
			expect(field.name.length).toBeGreaterThan(0);
			expect(field.value.trim().length).toBeGreaterThan(0);
			expect(field.name.length).toBeLessThanOrEqual(DISCORD_FIELD_NAME_MAX);
			expect(field.value.length).toBeLessThanOrEqual(DISCORD_FIELD_VALUE_MAX);
		}
	}
	expect(embedTextLength(message)).toBeLessThanOrEqual(DISCORD_EMBED_TOTAL_MAX);
	expect(LONE_SURROGATE.test(JSON.stringify(message))).toBe(false);
}

describe("discordMessage", () => {
	it("lays out one embed with the type, fields, event id and time", () => {
		const long = "y".repeat(41);
		expect(
			discordMessage(input({ order: "ord1", total: 42.5, note: long, customer: { email: "a@example.com" } })),
		).toEqual({
			embeds: [
				{
					title: "order.paid",
					url: "https://edgehook.example.com/dashboard/deliveries/dlv_1",
					fields: [
						{ name: "order", value: "ord1", inline: true },
						{ name: "total", value: "42.5", inline: true },
						{ name: "note", value: long, inline: false },
						{ name: "customer.email", value: "a@example.com", inline: true },
					],
					footer: { text: "Event evt_1" },
					timestamp: "2024-01-15T10:00:00.000Z",
				},
			],
			allowed_mentions: { parse: [] },
		});
	});

	it("has no link without a delivery page and no timestamp Discord would refuse", () => {
		const message = discordMessage({ ...input({ a: 1 }, { timestamp: "yesterday" }), deliveryUrl: null });
		expect(message.embeds[0]).toEqual({
			title: "order.paid",
			fields: [{ name: "a", value: "1", inline: true }],
			footer: { text: "Event evt_1" },
		});
	});

	it("escapes markdown so data cannot make links, mentions or formatting", () => {
		const message = discordMessage(
			input(
				{
					link: "[click](https://evil.example)",
					ping: "@everyone <@123> <@&456> <#789>",
					style: "**bold** __under__ ~~gone~~ ||spoiler|| `code` \\",
					lines: "# heading\n- item\n> quote\nnot-a-list #tag",
					snake_case_key: "user_id",
				},
				{ type: "*order*.paid" },
			),
		);
		expectWithinLimits(message);
		const embed = message.embeds[0];
		expect(embed?.title).toBe("\\*order\\*.paid");
		expect(embed?.fields).toEqual([
			{ name: "link", value: "\\[click\\](https://evil.example)", inline: true },
			{ name: "ping", value: "@everyone \\<@123\\> \\<@&456\\> \\<#789\\>", inline: true },
			{
				name: "style",
				value: "\\*\\*bold\\*\\* \\_\\_under\\_\\_ \\~\\~gone\\~\\~ \\|\\|spoiler\\|\\| \\`code\\` \\\\",
				inline: false,
			},
			{ name: "lines", value: "\\# heading\n\\- item\n\\> quote\nnot-a-list #tag", inline: false },
			{ name: "snake\\_case\\_key", value: "user\\_id", inline: true },
		]);
		// Escaping is a courtesy; the guarantee against pings is allowed_mentions.
		expect(message.allowed_mentions).toEqual({ parse: [] });
	});

	it("shows empty and blank values as JSON strings, which Discord accepts", () => {
		const embed = discordMessage(input({ empty: "", blank: "   ", "": "no name" })).embeds[0];
		expect(embed?.fields).toEqual([
			{ name: "empty", value: '""', inline: true },
			{ name: "blank", value: '"   "', inline: true },
			{ name: '""', value: "no name", inline: true },
		]);
	});

	it("keeps 60 fields of 10 KB within 25 fields and 6000 characters, sharing the room evenly", () => {
		const big = "v".repeat(10_000);
		const data = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`f${index}`, big]));
		const message = discordMessage(input(data));
		expectWithinLimits(message);
		const fields = message.embeds[0]?.fields ?? [];
		expect(fields).toHaveLength(DISCORD_FIELDS_MAX);
		expect(fields.at(-1)).toEqual({ name: "…", value: "36 more fields", inline: true });
		const cut = fields.slice(0, -1);
		const lengths = new Set(cut.map((field) => field.value.length));
		expect(lengths.size).toBe(1);
		for (const field of cut) expect(field.value).toMatch(/^v+…$/);
		// The room is used, not just respected: within one field's share of the limit.
		expect(embedTextLength(message)).toBeGreaterThan(DISCORD_EMBED_TOTAL_MAX - DISCORD_FIELDS_MAX);
	});

	it("keeps short values whole while long ones share what is left", () => {
		const data: Record<string, string> = { short: "ok" };
		for (let index = 0; index < 10; index++) data[`long${index}`] = "w".repeat(5000);
		const message = discordMessage(input(data));
		expectWithinLimits(message);
		const fields = message.embeds[0]?.fields ?? [];
		expect(fields[0]).toEqual({ name: "short", value: "ok", inline: true });
		for (const field of fields.slice(1)) expect(field.value.length).toBeGreaterThan(500);
	});

	it("stays within the limits with huge keys, type and id", () => {
		const big = "k".repeat(10_000);
		const data = Object.fromEntries(Array.from({ length: 30 }, (_, index) => [`${index}${big}`, `${index}${big}`]));
		const message = discordMessage(input(data, { type: `t${big}`, id: `evt_${big}` }));
		expectWithinLimits(message);
		expect(message.embeds[0]?.title).toBe(`t${"k".repeat(DISCORD_TITLE_MAX - 2)}…`);
	});

	it("counts escapes against the limits and never cuts inside one or inside an emoji", () => {
		const message = discordMessage(input({ stars: "*".repeat(3000), emoji: "😀".repeat(3000) }));
		expectWithinLimits(message);
		const [stars, emoji] = message.embeds[0]?.fields ?? [];
		expect(stars?.value).toBe(`${"\\*".repeat((DISCORD_FIELD_VALUE_MAX - 2) / 2)}…`);
		expect(emoji?.value).toBe(`${"😀".repeat((DISCORD_FIELD_VALUE_MAX - 2) / 2)}…`);
	});
});
