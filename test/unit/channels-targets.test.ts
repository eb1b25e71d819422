import { describe, expect, it } from "vitest";
import { endpointAddress, endpointUrlProblem } from "../../src/channels/targets";

describe("endpoint URLs by channel", () => {
	it("hold Slack and Discord to their own webhook hosts in production only", () => {
		expect(endpointUrlProblem("slack", "https://hooks.slack.com/services/T/B/x", "production")).toBeNull();
		expect(endpointUrlProblem("slack", "https://hooks.slack.com.example.net/x", "production")).toMatch(
			/^must be a Slack/,
		);
		expect(endpointUrlProblem("slack", "https://example.com/services/x", "production")).toMatch(/^must be a Slack/);
		expect(endpointUrlProblem("discord", "https://discord.com/api/webhooks/1/t", "production")).toBeNull();
		expect(endpointUrlProblem("discord", "https://discordapp.com/api/webhooks/1/t", "production")).toBeNull();
		expect(endpointUrlProblem("discord", "https://discord.com/channels/1", "production")).toMatch(/^must be a Discord/);
		expect(endpointUrlProblem("slack", "http://127.0.0.1:9000/slack", "development")).toBeNull();
		expect(endpointUrlProblem("webhook", "https://example.com/h", "production")).toBeNull();
		// The general rules come first: a Slack URL must still be https.
		expect(endpointUrlProblem("slack", "http://hooks.slack.com/services/x", "production")).toBe("must be an https URL");
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
