import { describe, expect, it } from "vitest";
import { endpointUrlProblem, maskedEndpointAddress } from "../../src/channels/targets";

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

	it.each([
		"https://discord.com/api/webhooks/../../x",
		"https://discord.com/api/webhooks/%2e%2e/%2E%2E/x",
		"https://discord.com/api/webhooks/.%2e/.%2e/x",
		"https://discord.com/api/webhooks\\..\\..\\x",
	])("refuses %s, which resolves outside the service's webhook path", (url) => {
		expect(endpointUrlProblem("discord", url, "production")).toMatch(
			/^must be a Discord webhook URL \(.*…\), once its dot segments, escapes and backslashes are resolved$/,
		);
	});

	it.each([
		"https://discord.com/api/webhooks/1/../2/t",
		"https://discord.com/api/webhooks/1/%2e/t",
		"https://discord.com/api/webhooks\\1\\t",
		"https://hooks.slack.com/services/T/B/x/..",
		"https://hooks.slack.com/services/../../api/x",
		"https://hooks.slack.com\\@evil.example/x",
		"https://Hooks.Slack.com/services/T/B/x",
		"https://hooks.slack.com:443/services/T/B/x",
		"https://hooks.slack.com/services/T/B/\tx",
	])("refuses %s, which stays on the service but is not the URL it reads as", (url) => {
		const channel = url.toLowerCase().includes("slack") ? "slack" : "discord";
		expect(endpointUrlProblem(channel, url, "production")).toMatch(
			/^must be a (Slack incoming-webhook|Discord webhook) URL as the service gives it: /,
		);
	});
});

describe("maskedEndpointAddress", () => {
	it("is the URL masked, or a mailto: of the addresses for email", () => {
		expect(
			maskedEndpointAddress({
				channel: "slack",
				url: "https://hooks.slack.com/services/T0001/B0001/xoxwT0k3nT0k3nAbCd",
				recipients: null,
			}),
		).toBe("https://hooks.slack.com/…AbCd");
		expect(maskedEndpointAddress({ channel: "email", url: "", recipients: '["a@example.com","b@example.com"]' })).toBe(
			"mailto:a@example.com,b@example.com",
		);
	});
});
