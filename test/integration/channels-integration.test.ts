import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { EMAIL_NOT_ALLOWED } from "../../src/channels/email-send";
import { MAX_EVALUATION_STEPS, MAX_OUTPUT_BYTES, runTransformation } from "../../src/channels/transform";
import { publicDeliveryId } from "../../src/lib/ids";
import {
	api,
	callWithSettings,
	createWebhook,
	receivedBy,
	receiverPath,
	record,
	runFirstAttempt,
	storeEventDirectly,
	uniqueName,
	waitFor,
} from "./helpers";

async function count(table: string): Promise<number> {
	const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>();
	return row?.n ?? 0;
}

/** Posts an event of a type no other test uses and answers the delivery id of it at `endpointId`. */
async function sendEvent(type: string, data: Record<string, unknown>, endpointId: unknown): Promise<string> {
	const posted = await api("POST", "/v1/events", { body: { type, data } });
	if (posted.status !== 202) throw new Error(`event refused: ${posted.status} ${JSON.stringify(posted.body)}`);
	return publicDeliveryId(String(endpointId), String(record(posted.body).id));
}

async function settled(id: string): Promise<Record<string, unknown>> {
	return waitFor(async () => {
		const delivery = record((await api("GET", `/v1/deliveries/${id}`)).body);
		return delivery.status === "pending" || delivery.status === undefined ? undefined : delivery;
	});
}

function productionCall(method: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
	return callWithSettings({ ENVIRONMENT: "production" }, method, path, body);
}

function details(body: unknown): unknown {
	return record(record(body).error).details;
}

describe("channel endpoints", () => {
	it("stores each channel with its target and shows email addresses instead of a URL", async () => {
		const slack = await createWebhook({ channel: "slack", url: receiverPath("ok", uniqueName("s")), events: ["a"] });
		expect(slack).toMatchObject({ channel: "slack", to: null, transformation: null });
		const email = await createWebhook({ channel: "email", to: ["ops@example.com", "dev@example.com"], events: ["a"] });
		expect(email).toMatchObject({ channel: "email", url: null, to: ["ops@example.com", "dev@example.com"] });
		const plain = await createWebhook({ url: receiverPath("ok", uniqueName("w")), events: ["a"] });
		expect(plain.channel).toBe("webhook");
		const read = record((await api("GET", `/v1/webhooks/${email.id}`)).body);
		expect(read).toMatchObject({ channel: "email", url: null, to: ["ops@example.com", "dev@example.com"] });
	});

	it.each([
		[{ channel: "sms", url: "http://127.0.0.1/x", events: ["a"] }, "channel"],
		[{ channel: "email", events: ["a"] }, "to"],
		[{ channel: "email", to: ["a@example.com"], url: "http://127.0.0.1/x", events: ["a"] }, "url"],
		[{ channel: "email", to: ["not an address"], events: ["a"] }, "to.0"],
		[{ channel: "email", to: [], events: ["a"] }, "to"],
		[{ channel: "email", to: ["a@example.com", "A@example.com"], events: ["a"] }, "to"],
		[{ url: "http://127.0.0.1/x", to: ["a@example.com"], events: ["a"] }, "to"],
		[{ channel: "slack", events: ["a"] }, "url"],
		[{ url: "http://127.0.0.1/x", events: ["a"], transformation: "{ a: " }, "transformation"],
		[{ url: "http://127.0.0.1/x", events: ["a"], transformation: "  " }, "transformation"],
	])("refuses %j with a 422 naming %s, storing nothing", async (body, field) => {
		const before = await count("endpoints");
		const created = await api("POST", "/v1/webhooks", { body });
		expect(created.status).toBe(422);
		expect((details(created.body) as { field: string }[]).map((problem) => problem.field)).toContain(field);
		expect(await count("endpoints")).toBe(before);
	});

	it("says where a malformed transformation breaks", async () => {
		const created = await api("POST", "/v1/webhooks", {
			body: { url: "http://127.0.0.1/x", events: ["a"], transformation: '{"a": data.x' },
		});
		expect(details(created.body)).toEqual([
			{ field: "transformation", message: expect.stringMatching(/ at position \d+$/) },
		]);
	});

	it.each([
		["slack", "https://example.com/services/T/B/x", "must be a Slack incoming-webhook URL (https://hooks.slack.com/…)"],
		[
			"slack",
			"https://hooks.slack.com.evil.example/services/x",
			"must be a Slack incoming-webhook URL (https://hooks.slack.com/…)",
		],
		["discord", "https://example.com/api/webhooks/1/x", expect.stringContaining("must be a Discord webhook URL")],
	])("in production refuses a %s channel at %s", async (channel, url, message) => {
		const before = await count("endpoints");
		const created = await productionCall("POST", "/v1/webhooks", { channel, url, events: ["a"] });
		expect(created.status).toBe(422);
		expect(details(created.body)).toEqual([{ field: "url", message }]);
		expect(await count("endpoints")).toBe(before);
	});

	it("in production accepts Slack's and Discord's own webhook URLs", async () => {
		const slack = await productionCall("POST", "/v1/webhooks", {
			channel: "slack",
			url: "https://hooks.slack.com/services/T000/B000/XXXX",
			events: ["a"],
		});
		expect(slack.status).toBe(201);
		const discord = await productionCall("POST", "/v1/webhooks", {
			channel: "discord",
			url: "https://discord.com/api/webhooks/123/abc",
			events: ["a"],
		});
		expect(discord.status).toBe(201);
	});

	it("in production refuses a chat URL that reads differently once resolved, on create and on PATCH", async () => {
		const before = await count("endpoints");
		for (const url of [
			"https://discord.com/api/webhooks/../../x",
			"https://discord.com/api/webhooks/%2e%2e/%2E%2e/x",
			"https://discord.com/api/webhooks\\..\\..\\x",
		]) {
			const created = await productionCall("POST", "/v1/webhooks", { channel: "discord", url, events: ["a"] });
			expect(created.status, url).toBe(422);
			expect(details(created.body), url).toEqual([
				{
					field: "url",
					message:
						"must be a Discord webhook URL (https://discord.com/api/webhooks/ or https://discordapp.com/api/webhooks/ or https://ptb.discord.com/api/webhooks/ or https://canary.discord.com/api/webhooks/…), once its dot segments, escapes and backslashes are resolved",
				},
			]);
		}
		const staying = await productionCall("POST", "/v1/webhooks", {
			channel: "slack",
			url: "https://hooks.slack.com/services/T000/B000/../../../api/chat.postMessage",
			events: ["a"],
		});
		expect(staying.status).toBe(422);
		expect(details(staying.body)).toEqual([
			{
				field: "url",
				message: expect.stringMatching(/^must be a Slack incoming-webhook URL as the service gives it: /),
			},
		]);
		expect(await count("endpoints")).toBe(before);

		const url = "https://discord.com/api/webhooks/123/abc";
		const hook = record(
			(await productionCall("POST", "/v1/webhooks", { channel: "discord", url, events: ["a"] })).body,
		);
		const patched = await productionCall("PATCH", `/v1/webhooks/${hook.id}`, {
			url: "https://discord.com/api/webhooks/123/%2e%2e/%2e%2e/%2e%2e/x",
		});
		expect(patched.status).toBe(422);
		expect(details(patched.body)).toEqual([
			{ field: "url", message: expect.stringContaining("once its dot segments") },
		]);
		expect(record((await api("GET", `/v1/webhooks/${hook.id}`)).body).url).toBe(url);
	});

	it("lets a PATCH that leaves the target alone through, even when today's rules would refuse the stored URL", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("kept")), events: ["a"] });
		const patched = await productionCall("PATCH", `/v1/webhooks/${hook.id}`, { transformation: '{"a": 1}' });
		expect(patched.status).toBe(200);
		expect(record(patched.body).transformation).toBe('{"a": 1}');
		const moved = await productionCall("PATCH", `/v1/webhooks/${hook.id}`, { url: String(hook.url) });
		expect(moved.status).toBe(422);
	});

	it("switches channel on PATCH only with the new channel's target, leaving the old one behind", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("p")), events: ["a"] });
		const refused = await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { channel: "email" } });
		expect(refused.status).toBe(422);
		expect(details(refused.body)).toEqual([{ field: "to", message: "is required for the email channel" }]);
		expect(record((await api("GET", `/v1/webhooks/${hook.id}`)).body).channel).toBe("webhook");

		const patched = await api("PATCH", `/v1/webhooks/${hook.id}`, {
			body: { channel: "email", to: ["team@example.com"] },
		});
		expect(patched.status).toBe(200);
		expect(record(patched.body)).toMatchObject({ channel: "email", url: null, to: ["team@example.com"] });
		const back = await api("PATCH", `/v1/webhooks/${hook.id}`, {
			body: { channel: "discord", url: "http://127.0.0.1:9/d" },
		});
		expect(record(back.body)).toMatchObject({ channel: "discord", url: "http://127.0.0.1:9/d", to: null });
		const cleared = await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { transformation: "{'x': 1}" } });
		expect(record(cleared.body).transformation).toBe("{'x': 1}");
		const removed = await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { transformation: null } });
		expect(record(removed.body).transformation).toBeNull();
	});
});

describe("transformations at send time", () => {
	it("sends the transformed body, signed over those bytes", async () => {
		const name = uniqueName("t-rename");
		const type = uniqueName("order.paid").replace(/-/g, "_");
		const hook = await createWebhook({
			url: receiverPath("ok", name),
			events: [type],
			transformation: '{"order": data.id, "total_cents": data.amount * 100, "kind": type}',
		});
		const id = await sendEvent(type, { id: "ord_1", amount: 12.5 }, hook.id);
		expect(await settled(id)).toMatchObject({ status: "success", attempt_count: 1 });
		const [request] = await receivedBy(name);
		if (!request) throw new Error("nothing received");
		expect(JSON.parse(request.body)).toEqual({ order: "ord_1", total_cents: 1250, kind: type });
		const secret = String(record((await api("GET", `/v1/webhooks/${hook.id}/secret`)).body).secret);
		expect(() => new Webhook(secret).verify(request.body, request.headers)).not.toThrow();
	});

	it("skips the delivery when the expression produces nothing: no attempt, nothing received", async () => {
		const name = uniqueName("t-drop");
		const type = uniqueName("user.changed").replace(/-/g, "_");
		const hook = await createWebhook({
			url: receiverPath("ok", name),
			events: [type],
			transformation: 'data.plan = "pro" ? {"user": data.id}',
		});
		const skippedId = await sendEvent(type, { id: "u1", plan: "free" }, hook.id);
		const skipped = await settled(skippedId);
		expect(skipped).toMatchObject({
			status: "skipped",
			attempt_count: 0,
			attempts: [],
			error: "the endpoint's transformation produced nothing, so nothing was sent",
		});
		const sentId = await sendEvent(type, { id: "u2", plan: "pro" }, hook.id);
		expect(await settled(sentId)).toMatchObject({ status: "success" });
		const received = await receivedBy(name);
		expect(received.map((request) => JSON.parse(request.body))).toEqual([{ user: "u2" }]);
		// Even once the transformation would send it, the skipped delivery shows no request: none was sent.
		await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { transformation: '{"user": data.id}' } });
		expect((await api("GET", `/v1/deliveries/${skippedId}/request`)).status).toBe(409);
		const listed = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?status=skipped`)).body);
		expect((listed.deliveries as { id: string }[]).map((delivery) => delivery.id)).toEqual([skippedId]);
		const stats = record(record((await api("GET", `/v1/webhooks/${hook.id}/stats`)).body).totals);
		expect(stats).toMatchObject({ skipped: 1, succeeded: 1 });
	});

	it("fails the attempt with the expression's error instead of sending a wrong body", async () => {
		const name = uniqueName("t-fail");
		const type = uniqueName("t.fail").replace(/-/g, "_");
		const hook = await createWebhook({
			url: receiverPath("ok", name),
			events: [type],
			transformation: '$error("boom")',
		});
		const delivery = await settled(await sendEvent(type, { id: 1 }, hook.id));
		expect(delivery).toMatchObject({ status: "failed", next_attempt_at: null });
		expect(delivery.error).toBe("the endpoint's transformation failed: boom [D3137] at position 7");
		expect(await receivedBy(name)).toEqual([]);
	});

	it("bounds a run by steps, depth and output size", async () => {
		const looping = await runTransformation(
			"[1..400].($i := $; $reduce([1..400], function($a, $b) { $a + $b + $i }))",
			{},
		);
		expect(looping).toEqual({
			kind: "error",
			message: `the transformation took more than ${MAX_EVALUATION_STEPS} evaluation steps`,
		});
		const recursing = await runTransformation("($f := function($x) { $x > 100000 ? $x : $f($x + 1) }; $f(0))", {});
		expect(recursing.kind).toBe("error");
		const huge = await runTransformation(`$join([1..9999].("${"x".repeat(40)}"))`, {});
		expect(huge).toEqual({ kind: "error", message: `the result is larger than ${MAX_OUTPUT_BYTES} bytes` });
		expect(await runTransformation("{'a': $}", 1)).toEqual({ kind: "body", value: { a: 1 }, json: '{"a":1}' });
	});

	it.each([
		["a regex that backtracks", "$match(data.s, /(a+)+$/)", /^regular expressions are not accepted/],
		["text run as an expression", '$eval("1 + 1")', /^\$eval is not accepted in transformations/],
		["a padding of 400 MB", '$pad("", 400000000)', /^\$pad's padding would be larger than 1000000 characters$/],
		[
			"a padding of long pad strings",
			'($c := $join([1..53].("abcdefghij")); $pad("", 999999, $c))',
			/^\$pad's padding would be larger than 1000000 characters$/,
		],
		[
			"an object grown by the transform operator",
			'($f := function($p, $n) { $n = 0 ? $p : $f({"a": {}} ~> | a | {"l": $p, "r": $p} |, $n - 1) }; $f({"x": 1}, 26))',
			/^the transform operator \(\| … \|\) is not accepted/,
		],
		["a signature that backtracks", '($f := function($a)<s+s+s+:s>{"x"}; $f("a"))', /^function signatures/],
		[
			"a date picture (a regex inside)",
			'$toMillis("aaaa1", "[FNn][FNn][FNn]")',
			/^\$toMillis takes ISO 8601 text only/,
		],
		[
			"a number picture of 40,000",
			'$formatNumber(1, $pad("", 40000, "#,") & "0")',
			/^\$formatNumber's picture may be at most 64/,
		],
		["an integer picture (a regex inside)", '$parseInteger("12", "#0")', /^\$parseInteger is not accepted/],
		["a string doubled", `($s := "abcdefgh"; ${"$s := $s & $s; ".repeat(20)} $length($s))`, /^a value would be larger/],
		[
			"objects sharing parts",
			`($l0 := $pad("", 1000); ${[1, 2, 3, 4]
				.map(
					(level) =>
						`$l${level} := {${"abcdefghij"
							.split("")
							.map((key) => `"${key}": $l${level - 1}`)
							.join(", ")}}`,
				)
				.join("; ")}; $l4)`,
			/^a value would be larger than 1000000 characters$/,
		],
		["a join with a huge separator", '$join([1..5000].("x"), $pad("", 100000))', /^\$join's result would be larger/],
		["a replacement that multiplies", '$replace(data.blob, "x", "yyyyyyyyyy")', /^\$replace's result would be larger/],
		[
			"the payload serialized over and over",
			"$count([1..9999].($length($string($$.data)) > 0 ? 1))",
			/produced more than/,
		],
		["a message of a million characters", '$error($pad("", 999990, "x"))', /^x{999}…$/],
		[
			"a date width of 200,000 digits",
			'$fromMillis(0, "[D#,##0,200000]")',
			/^\$fromMillis's widths may be at most 64$/,
		],
		["a date width spelled with spaces", '$now("[Y, 9 9 9 9 9 9 9]")', /^\$now's widths may be at most 64$/],
		["copies of an input string", "($s := data.blob; [1..9000].($s & $s))", /produced more than/],
		[
			"the length of a long string, again and again",
			"($f := $length; [1..480].$f($$.data.blob))",
			/produced more than/,
		],
		[
			"a comparator sort of 5,000 items",
			"$sort(data.items, function($l, $r) { $l > $r })",
			/^\$sort with a comparator takes at most 2000 items$/,
		],
		["a huge split", '$split($pad("", 999990, "a"), "")', /^a value would be larger than 1000000 characters$/],
	])("stops %s with an error", async (_name, expression, message) => {
		const data = {
			s: `${"a".repeat(31)}!`,
			items: Array.from({ length: 5000 }, (_, i) => i),
			blob: "x".repeat(200_000),
		};
		const outcome = await runTransformation(expression, { id: "evt_x", type: "t", data });
		expect(outcome).toEqual({ kind: "error", message: expect.stringMatching(message) });
	});

	it("sorts and spreads long inputs in linear memory, with the library's results", async () => {
		const numbers = Array.from({ length: 30_000 }, (_, index) => (index * 7919) % 30_000);
		const sorted = await runTransformation("$sort(data.n)", { data: { n: numbers } });
		expect(sorted.kind === "body" && sorted.value).toEqual([...numbers].sort((a, b) => a - b));
		expect(await runTransformation('$sort(["b", "a", "c"])', {})).toMatchObject({ value: ["a", "b", "c"] });
		expect(await runTransformation('$sort([1, "a"])', {})).toEqual({
			kind: "error",
			message: "$sort without a comparator takes only numbers or only strings",
		});
		const byField = await runTransformation('$sort([{"v": 2}, {"v": 1}], function($l, $r) { $l.v > $r.v })', {});
		expect(byField).toMatchObject({ value: [{ v: 1 }, { v: 2 }] });
		const filler = [...Array.from({ length: 10_000 }, () => 1), ...Array.from({ length: 81_000 }, () => [])];
		expect(
			await runTransformation("$sum([1..10].($count($spread($$.data.a))))", { data: { a: filler } }),
		).toMatchObject({
			value: 100_000,
		});
		expect(await runTransformation('$spread([{"a": 1}, {"b": 2}, 3, [{"c": 4}]])', {})).toMatchObject({
			json: '[{"a":1},{"b":2},3,{"c":4}]',
		});
	});

	it("keeps the everyday built-ins: $distinct in linear time, $now, ISO dates, short pictures", async () => {
		const base = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`k${index}`, index]));
		const items = Array.from({ length: 5000 }, (_, index) => ({ ...base, n: index % 2500 }));
		const distinct = await runTransformation("$count($distinct(data.items))", { data: { items } });
		expect(distinct).toMatchObject({ kind: "body", value: 2500 });
		const dates = await runTransformation(
			'{"ms": $toMillis(data.t), "month": $fromMillis(0, "[Y0001]-[M01]"), "money": $formatNumber(1234.5, "#,##0.00"), "now": $now() = $now()}',
			{ data: { t: "2024-01-15T10:00:00Z" } },
		);
		expect(dates).toMatchObject({
			kind: "body",
			value: { ms: 1705312800000, month: "1970-01", money: "1,234.50", now: true },
		});
	});

	it("stops a run that outlasts its time, reading the clock between steps", async () => {
		const outcome = await runTransformation(
			"[1..400].($i := $; $reduce([1..400], function($a, $b) { $a + $b + $i }))",
			{},
			0,
		);
		expect(outcome).toEqual({ kind: "error", message: "the transformation ran for more than 0 ms" });
	});

	it("refuses a regular expression when the transformation is saved", async () => {
		const created = await api("POST", "/v1/webhooks", {
			body: { url: "http://127.0.0.1/x", events: ["a"], transformation: '$replace(data.s, /a+/, "b")' },
		});
		expect(created.status).toBe(422);
		expect(details(created.body)).toEqual([
			{ field: "transformation", message: expect.stringMatching(/^regular expressions are not accepted/) },
		]);
	});
});

describe("the Slack channel", () => {
	it("links each message to its delivery in the dashboard when PUBLIC_BASE_URL is set", async () => {
		const name = uniqueName("slack-link");
		const type = uniqueName("deploy.done").replace(/-/g, "_");
		const hook = await createWebhook({ channel: "slack", url: receiverPath("ok", name), events: [type] });
		const event = await storeEventDirectly("default", type, [hook.id]);
		const settings = { ...env, PUBLIC_BASE_URL: "https://hooks.example.com/" };
		expect(await runFirstAttempt("default", event, hook.id, settings)).toEqual(["m1"]);
		const [request] = await receivedBy(name);
		if (!request) throw new Error("nothing received");
		const blocks = (JSON.parse(request.body) as { blocks: { type: string; elements?: { url?: string }[] }[] }).blocks;
		expect(blocks.find((block) => block.type === "actions")?.elements?.[0]?.url).toBe(
			`https://hooks.example.com/dashboard/t/default/deliveries/${publicDeliveryId(String(hook.id), event.id)}`,
		);
	});
});

describe("what a template or transformation may write", () => {
	it("has escapes for Slack, Discord markdown and HTML", async () => {
		const outcome = await runTransformation(
			'{"s": $escapeSlack(data.x), "d": $escapeMarkdown(data.x), "h": $escapeHtml(data.x)}',
			{ data: { x: "<!channel> *b* @everyone <i>&" } },
		);
		expect(outcome.kind === "body" && outcome.value).toEqual({
			s: "&lt;!channel&gt; *b* @everyone &lt;i&gt;&amp;",
			d: "\\<!channel\\> \\*b\\* @everyone \\<i\\>&",
			h: "&lt;!channel&gt; *b* @everyone &lt;i&gt;&amp;",
		});
	});

	it("pings nobody on Discord unless the result says whom it may", async () => {
		const hook = await createWebhook({
			channel: "discord",
			url: receiverPath("ok", uniqueName("dp")),
			events: ["a"],
			transformation: '{"content": "@everyone " & data.x}',
		});
		const preview = async (transformation?: string) =>
			record(
				(
					await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
						body: { event: { type: "a", data: { x: "hi" } }, transformation },
					})
				).body,
			).body;
		expect(await preview()).toEqual({ content: "@everyone hi", allowed_mentions: { parse: [] } });
		expect(await preview('{"content": "hi", "allowed_mentions": {"parse": ["users"]}}')).toEqual({
			content: "hi",
			allowed_mentions: { parse: ["users"] },
		});
	});

	it("refuses an email subject with control characters", async () => {
		const hook = await createWebhook({ channel: "email", to: ["c@example.com"], events: ["a"] });
		const preview = await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
			body: { transformation: '{"subject": "a\\u0007b", "text": "t"}' },
		});
		expect(preview.status).toBe(422);
		expect(details(preview.body)).toEqual([
			{ field: "transformation", message: "the email subject may not contain line breaks or other control characters" },
		]);
	});
});

describe("POST /v1/webhooks/{id}/transformation/test", () => {
	it("shows the output for an event without sending it", async () => {
		const name = uniqueName("t-preview");
		const hook = await createWebhook({
			url: receiverPath("ok", name),
			events: ["a"],
			transformation: '{"who": data.user, "t": type}',
		});
		const preview = await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
			body: { event: { type: "user.created", data: { user: "ada" } } },
		});
		expect(preview.status).toBe(200);
		expect(preview.body).toEqual({ dropped: false, body: { who: "ada", t: "user.created" } });
		const tried = await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
			body: { event: { type: "x", data: {} }, transformation: "data.nothing" },
		});
		expect(tried.body).toEqual({ dropped: true, body: null });
		const failing = await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
			body: { transformation: '$error("nope")' },
		});
		expect(failing.status).toBe(422);
		expect(details(failing.body)).toEqual([{ field: "transformation", message: expect.stringContaining("nope") }]);
		const malformed = await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
			body: { transformation: "(" },
		});
		expect(malformed.status).toBe(422);
		const builtIn = await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
			body: { transformation: null },
		});
		expect(record(record(builtIn.body).body)).toMatchObject({ type: "webhook.test", data: { webhook_id: hook.id } });
		expect(await receivedBy(name)).toEqual([]);
	});

	it("shows a Slack endpoint's built-in Block Kit message", async () => {
		const hook = await createWebhook({ channel: "slack", url: receiverPath("ok", uniqueName("sp")), events: ["a"] });
		const preview = record(
			(
				await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
					body: { event: { type: "invoice.paid", data: { amount: 10 } } },
				})
			).body,
		);
		const blocks = record(preview.body).blocks as { type: string }[];
		expect(blocks[0]).toMatchObject({ type: "header", text: { type: "plain_text", text: "invoice.paid" } });
	});
});

describe("templates", () => {
	it("replace a channel's layout for a type, with * for the others, and lose to an endpoint's transformation", async () => {
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("templates") } })).body);
		const key = String(
			record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body).key,
		);
		const put = (path: string, expression: string) =>
			api("PUT", `/v1/templates/${path}`, { auth: key, body: { expression } });
		expect((await put("slack/user.created", '{"text": "hello " & data.name}')).status).toBe(200);
		expect((await put("slack/*", '{"text": "any " & type}')).status).toBe(200);
		expect((await put("email/user.created", "{")).status).toBe(422);
		expect((await put("sms/user.created", "{}")).status).toBe(422);
		expect((await put("slack/bad type", "{}")).status).toBe(422);
		const listed = record((await api("GET", "/v1/templates", { auth: key })).body).templates as unknown[];
		expect(listed).toEqual([
			expect.objectContaining({ channel: "slack", event_type: "*" }),
			expect.objectContaining({ channel: "slack", event_type: "user.created" }),
		]);

		const preview = async (transformation: string | undefined, type: string) => {
			const name = uniqueName("tp");
			const hook = record(
				(
					await api("POST", "/v1/webhooks", {
						auth: key,
						body: { channel: "slack", url: receiverPath("ok", name), events: ["*"], transformation },
					})
				).body,
			);
			return record(
				(
					await api("POST", `/v1/webhooks/${hook.id}/transformation/test`, {
						auth: key,
						body: { event: { type, data: { name: "Ada" } } },
					})
				).body,
			).body;
		};
		expect(await preview(undefined, "user.created")).toEqual({ text: "hello Ada" });
		expect(await preview(undefined, "user.deleted")).toEqual({ text: "any user.deleted" });
		expect(await preview('{"text": "mine"}', "user.created")).toEqual({ text: "mine" });

		expect((await api("DELETE", "/v1/templates/slack/*", { auth: key })).status).toBe(204);
		expect((await api("DELETE", "/v1/templates/slack/*", { auth: key })).status).toBe(404);
		expect(record(await preview(undefined, "user.deleted")).blocks).toBeDefined();
		// Another tenant sees none of them.
		expect(record((await api("GET", "/v1/templates")).body).templates).not.toContainEqual(
			expect.objectContaining({ event_type: "user.created", expression: '{"text": "hello " & data.name}' }),
		);
	});
});

describe("the email channel", () => {
	it("refuses to send, without counting against the recipients, when EMAIL_FROM is not an address", async () => {
		const type = uniqueName("mail.nosender").replace(/-/g, "_");
		const hook = await createWebhook({ channel: "email", to: ["a@example.com"], events: [type] });
		const event = await storeEventDirectly("default", type, [hook.id]);
		expect(await runFirstAttempt("default", event, hook.id, { ...env, EMAIL_FROM: "nobody" })).toEqual(["m1"]);
		const delivery = record((await api("GET", `/v1/deliveries/${publicDeliveryId(String(hook.id), event.id)}`)).body);
		expect(delivery).toMatchObject({
			status: "failed",
			next_attempt_at: null,
			error: 'EMAIL_FROM ("nobody") is not a sender address',
		});
		const circuit = record(record((await api("GET", `/v1/webhooks/${hook.id}`)).body).circuit);
		expect(circuit).toMatchObject({ state: "closed", failures_in_a_row: 0 });

		const refused = await callWithSettings({ EMAIL_FROM: "nobody" }, "POST", "/v1/webhooks", {
			channel: "email",
			to: ["a@example.com"],
			events: ["a"],
		});
		expect(refused.status).toBe(422);
		expect(details(refused.body)).toEqual([
			{ field: "channel", message: "email needs a sender: this deployment's EMAIL_FROM is not an address" },
		]);
	});

	it("is refused to a tenant EMAIL_TENANTS leaves out, on create and on a PATCH of its target", async () => {
		const email = { channel: "email", to: ["a@example.com"], events: ["a"] };
		const refused = await callWithSettings({ EMAIL_TENANTS: "ten_someone_else" }, "POST", "/v1/webhooks", email);
		expect(refused.status).toBe(422);
		expect(details(refused.body)).toEqual([{ field: "channel", message: EMAIL_NOT_ALLOWED }]);
		expect(EMAIL_NOT_ALLOWED).toMatch(/^the operator allows the email channel only for the tenants named in/);

		const named = await callWithSettings({ EMAIL_TENANTS: "ten_someone_else, default" }, "POST", "/v1/webhooks", email);
		expect(named.status).toBe(201);
		const id = String(record(named.body).id);
		const moved = await callWithSettings({ EMAIL_TENANTS: "ten_someone_else" }, "PATCH", `/v1/webhooks/${id}`, {
			to: ["b@example.com"],
		});
		expect(moved.status).toBe(422);
		expect(details(moved.body)).toEqual([{ field: "channel", message: EMAIL_NOT_ALLOWED }]);
		// What does not touch the target stays editable, so the tenant can still disable or describe it.
		const described = await callWithSettings({ EMAIL_TENANTS: "ten_someone_else" }, "PATCH", `/v1/webhooks/${id}`, {
			description: "kept",
		});
		expect(described.status).toBe(200);
	});

	it("sends nothing for the email endpoints of a tenant EMAIL_TENANTS no longer names, without a retry", async () => {
		const type = uniqueName("mail.notallowed").replace(/-/g, "_");
		const hook = await createWebhook({ channel: "email", to: ["a@example.com"], events: [type] });
		const event = await storeEventDirectly("default", type, [hook.id]);
		const handedOver: unknown[] = [];
		const recording = {
			send: async (message: unknown) => {
				handedOver.push(message);
			},
		} as unknown as SendEmail;
		const settings = { ...env, EMAIL: recording, EMAIL_TENANTS: "ten_someone_else" };
		expect(await runFirstAttempt("default", event, hook.id, settings)).toEqual(["m1"]);
		expect(handedOver).toEqual([]);
		const delivery = record((await api("GET", `/v1/deliveries/${publicDeliveryId(String(hook.id), event.id)}`)).body);
		expect(delivery).toMatchObject({ status: "failed", next_attempt_at: null, error: EMAIL_NOT_ALLOWED });
		const circuit = record(record((await api("GET", `/v1/webhooks/${hook.id}`)).body).circuit);
		expect(circuit).toMatchObject({ state: "closed", failures_in_a_row: 0 });

		// Named again, the same binding gets the message.
		const next = await storeEventDirectly("default", type, [hook.id]);
		expect(await runFirstAttempt("default", next, hook.id, { ...settings, EMAIL_TENANTS: "default" })).toEqual(["m1"]);
		expect(handedOver).toHaveLength(1);
	});

	it("sends one message per address through the send_email binding and logs who got it", async () => {
		const type = uniqueName("mail.sent").replace(/-/g, "_");
		const hook = await createWebhook({ channel: "email", to: ["a@example.com", "b@example.com"], events: [type] });
		const delivery = await settled(await sendEvent(type, { id: "x" }, hook.id));
		expect(delivery).toMatchObject({ status: "success", attempt_count: 1, error: null });
		const [attempt] = delivery.attempts as Record<string, unknown>[];
		expect(String(attempt?.response_body).split(/, | /).sort()).toEqual([
			"a@example.com",
			"b@example.com",
			"sent",
			"to",
		]);
		const request = await api("GET", `/v1/deliveries/${delivery.id}/request`);
		expect(request.status).toBe(409);
	});

	it("records an address the platform refuses as a failed attempt with its reason", async () => {
		const type = uniqueName("mail.refused").replace(/-/g, "_");
		const hook = await createWebhook({
			channel: "email",
			to: ["ok@example.com", "nobody@example.com"],
			events: [type],
		});
		const event = await storeEventDirectly("default", type, [hook.id]);
		const restricted = (env as unknown as Record<string, SendEmail | undefined>).RESTRICTED_EMAIL;
		if (restricted === undefined) throw new Error("RESTRICTED_EMAIL binding missing (vitest.config.ts)");
		expect(await runFirstAttempt("default", event, hook.id, { ...env, EMAIL: restricted })).toEqual(["m1"]);
		const delivery = record((await api("GET", `/v1/deliveries/${publicDeliveryId(String(hook.id), event.id)}`)).body);
		// Partly sent: not retried, so ok@example.com does not get it twice.
		expect(delivery).toMatchObject({ status: "failed", attempt_count: 1, next_attempt_at: null });
		expect(delivery.attempts).toEqual([
			expect.objectContaining({
				status_code: null,
				response_body: "sent to ok@example.com",
				error: "partly sent; refused: nobody@example.com: email to nobody@example.com not allowed",
			}),
		]);
	});
});
