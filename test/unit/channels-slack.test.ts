import { describe, expect, it } from "vitest";
import type { NotificationInput } from "../../src/channels/input";
import {
	SLACK_BUTTON_TEXT_MAX,
	SLACK_BUTTON_URL_MAX,
	SLACK_CONTEXT_ELEMENTS_MAX,
	SLACK_FIELD_TEXT_MAX,
	SLACK_HEADER_TEXT_MAX,
	SLACK_MAX_BLOCKS,
	SLACK_SECTION_FIELDS_MAX,
	SLACK_TEXT_MAX,
	SLACK_TEXT_OBJECT_MAX,
	type SlackMessage,
	slackMessage,
} from "../../src/channels/slack";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function input(data: unknown, overrides: Partial<NotificationInput["envelope"]> = {}): NotificationInput {
	return {
		envelope: { id: "evt_1", type: "order.paid", timestamp: "2024-01-15T10:00:00Z", data, ...overrides },
		deliveryUrl: "https://edgehook.example.com/dashboard/deliveries/dlv_1",
	};
}

/** Every mrkdwn text of a message, where Slack would parse `<…>` control sequences. */
function mrkdwnTexts(message: SlackMessage): string[] {
	const texts = [message.text];
	for (const block of message.blocks) {
		if (block.type === "section") texts.push(...block.fields.map((field) => field.text));
		if (block.type === "context") texts.push(...block.elements.map((element) => element.text));
	}
	return texts;
}

/** Asserts every Block Kit limit the layout can reach. */
function expectWithinLimits(message: SlackMessage): void {
	expect(message.blocks.length).toBeLessThanOrEqual(SLACK_MAX_BLOCKS);
	expect(message.text.length).toBeLessThanOrEqual(SLACK_TEXT_MAX);
	for (const block of message.blocks) {
		if (block.type === "header") expect(block.text.text.length).toBeLessThanOrEqual(SLACK_HEADER_TEXT_MAX);
		if (block.type === "section") {
			expect(block.fields.length).toBeGreaterThan(0);
			expect(block.fields.length).toBeLessThanOrEqual(SLACK_SECTION_FIELDS_MAX);
			for (const field of block.fields) expect(field.text.length).toBeLessThanOrEqual(SLACK_FIELD_TEXT_MAX);
		}
		if (block.type === "context") {
			expect(block.elements.length).toBeLessThanOrEqual(SLACK_CONTEXT_ELEMENTS_MAX);
			for (const element of block.elements) expect(element.text.length).toBeLessThanOrEqual(SLACK_TEXT_OBJECT_MAX);
		}
		if (block.type === "actions") {
			for (const button of block.elements) {
				expect(button.text.text.length).toBeLessThanOrEqual(SLACK_BUTTON_TEXT_MAX);
				expect(button.url.length).toBeLessThanOrEqual(SLACK_BUTTON_URL_MAX);
			}
		}
	}
	expect(LONE_SURROGATE.test(JSON.stringify(message))).toBe(false);
}

describe("slackMessage", () => {
	it("lays out header, fields, context and the delivery button", () => {
		const message = slackMessage(input({ order_id: "ord_1", total: 42.5, customer: { email: "a@example.com" } }));
		expect(message).toEqual({
			text: "order.paid event evt_1",
			blocks: [
				{ type: "header", text: { type: "plain_text", text: "order.paid" } },
				{
					type: "section",
					fields: [
						{ type: "mrkdwn", text: "*order_id*\nord_1", verbatim: true },
						{ type: "mrkdwn", text: "*total*\n42.5", verbatim: true },
						{ type: "mrkdwn", text: "*customer.email*\na@example.com", verbatim: true },
					],
				},
				{
					type: "context",
					elements: [
						{ type: "mrkdwn", text: "*Event* evt_1", verbatim: true },
						{ type: "mrkdwn", text: "*Time* 2024-01-15T10:00:00Z", verbatim: true },
					],
				},
				{
					type: "actions",
					elements: [
						{
							type: "button",
							text: { type: "plain_text", text: "View delivery" },
							url: "https://edgehook.example.com/dashboard/deliveries/dlv_1",
							action_id: "view_delivery",
						},
					],
				},
			],
		});
	});

	it("has no button without a delivery page, nor with a URL Slack would refuse", () => {
		const without = slackMessage({ ...input({ a: 1 }), deliveryUrl: null });
		expect(without.blocks.map((block) => block.type)).toEqual(["header", "section", "context"]);
		const tooLong = slackMessage({
			...input({ a: 1 }),
			deliveryUrl: `https://edgehook.example.com/${"x".repeat(SLACK_BUTTON_URL_MAX)}`,
		});
		expect(tooLong.blocks.map((block) => block.type)).toEqual(["header", "section", "context"]);
	});

	it("leaves the section out for an event without data fields", () => {
		const message = slackMessage(input({}));
		expect(message.blocks.map((block) => block.type)).toEqual(["header", "context", "actions"]);
	});

	it("escapes &, < and > so data cannot mention anyone or make links", () => {
		const message = slackMessage(
			input(
				{ "<@U123>": "<!channel> & <https://evil.example|click here>", note: "<!here|here>" },
				{ id: "<!everyone>", type: "a<!here>b", timestamp: "<@U1>" },
			),
		);
		const section = message.blocks.find((block) => block.type === "section");
		expect(section).toEqual({
			type: "section",
			fields: [
				{
					type: "mrkdwn",
					text: "*&lt;@U123&gt;*\n&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;",
					verbatim: true,
				},
				{ type: "mrkdwn", text: "*note*\n&lt;!here|here&gt;", verbatim: true },
			],
		});
		expect(message.text).toBe("a&lt;!here&gt;b event &lt;!everyone&gt;");
		for (const text of mrkdwnTexts(message)) expect(text).not.toMatch(/[<>]/);
		// The header is plain_text, which Slack never parses for mentions: shown as written.
		expect(message.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "a<!here>b" } });
	});

	it("stays within every limit with 60 fields of 10 KB and a 10 KB type and id", () => {
		const big = "x".repeat(10_000);
		const data = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`field_${index}_${big}`, big]));
		const message = slackMessage(input(data, { type: `type.${big}`, id: `evt_${big}` }));
		expectWithinLimits(message);

		const header = message.blocks[0];
		expect(header?.type === "header" && header.text.text).toBe(`type.${"x".repeat(SLACK_HEADER_TEXT_MAX - 6)}…`);
		const section = message.blocks.find((block) => block.type === "section");
		expect(section?.type === "section" && section.fields.length).toBe(SLACK_SECTION_FIELDS_MAX);
		if (section?.type !== "section") throw new Error("no section");
		for (const field of section.fields.slice(0, -1)) {
			expect(field.text).toHaveLength(SLACK_FIELD_TEXT_MAX);
			expect(field.text.endsWith("…")).toBe(true);
		}
		expect(section.fields.at(-1)?.text).toBe("*…*\n51 more fields");
		// The fallback notification text stays a one-liner, not a wall of data.
		expect(message.text.length).toBeLessThan(300);
	});

	it("cuts between escapes, never inside one, and counts the escaped length", () => {
		const message = slackMessage(input({ v: "&".repeat(5000), w: "<".repeat(5000) }));
		expectWithinLimits(message);
		const section = message.blocks.find((block) => block.type === "section");
		if (section?.type !== "section") throw new Error("no section");
		const [first, second] = section.fields;
		expect(first?.text).toMatch(/^\*v\*\n(&amp;)+…$/);
		expect(second?.text).toMatch(/^\*w\*\n(&lt;)+…$/);
		// As many whole escapes as fit with the ellipsis: (2000 - "*v*\n" - "…") / 5.
		expect(first?.text).toBe(`*v*\n${"&amp;".repeat(Math.floor((SLACK_FIELD_TEXT_MAX - 5) / 5))}…`);
	});

	it("never splits an emoji when cutting", () => {
		const message = slackMessage(
			input({ v: "😀".repeat(3000), w: `a${"😀".repeat(3000)}` }, { type: "🎉".repeat(100) }),
		);
		expectWithinLimits(message);
	});
});
