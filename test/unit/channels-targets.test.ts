import { describe, expect, it } from "vitest";
import { chatUrlProblem, endpointAddress } from "../../src/channels/targets";

describe("chat channel URLs", () => {
	it("hold Slack and Discord to their own webhook hosts in production only", () => {
		expect(chatUrlProblem("slack", "https://hooks.slack.com/services/T/B/x", "production")).toBeNull();
		expect(chatUrlProblem("slack", "https://hooks.slack.com.example.net/x", "production")).toMatch(/^must be a Slack/);
		expect(chatUrlProblem("slack", "https://example.com/services/x", "production")).toMatch(/^must be a Slack/);
		expect(chatUrlProblem("discord", "https://discord.com/api/webhooks/1/t", "production")).toBeNull();
		expect(chatUrlProblem("discord", "https://discordapp.com/api/webhooks/1/t", "production")).toBeNull();
		expect(chatUrlProblem("discord", "https://discord.com/channels/1", "production")).toMatch(/^must be a Discord/);
		expect(chatUrlProblem("slack", "http://127.0.0.1:9000/slack", "development")).toBeNull();
		expect(chatUrlProblem("webhook", "https://example.com/h", "production")).toBeNull();
	});
});

describe("endpointAddress", () => {
	it("is the URL, or a mailto: of the addresses for email", () => {
		expect(endpointAddress({ channel: "slack", url: "https://hooks.slack.com/x", recipients: null })).toBe(
			"https://hooks.slack.com/x",
		);
		expect(endpointAddress({ channel: "email", url: "", recipients: '["a@example.com","b@example.com"]' })).toBe(
			"mailto:a@example.com,b@example.com",
		);
	});
});
