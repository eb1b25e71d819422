import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { READING_TRUSTED_MS } from "../../src/queue/backlog";
import { ADMIN_KEY, createWebhook, receiverPath, record, uniqueName } from "./helpers";

/**
 * The real queue, reporting the backlog a test sets: a local queue drains
 * in milliseconds, so a backlog of minutes cannot be made here for real.
 */
function queueReporting(real: Queue, backlog: { count: number; oldestAgeSeconds: number | null }): Queue {
	const metrics = () => ({
		backlogCount: backlog.count,
		backlogBytes: backlog.count * 200,
		...(backlog.oldestAgeSeconds === null
			? {}
			: { oldestMessageTimestamp: new Date(Date.now() - backlog.oldestAgeSeconds * 1000) }),
	});
	return {
		metrics: async () => metrics(),
		send: async (message, options) => ({ ...(await real.send(message, options)), metadata: { metrics: metrics() } }),
		sendBatch: async (messages, options) => ({
			...(await real.sendBatch(messages, options)),
			metadata: { metrics: metrics() },
		}),
	};
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("backpressure", () => {
	it("refuses new events with 503 and Retry-After while the backlog is past a bound, storing nothing", async () => {
		const type = `backlog.${uniqueName("t").replaceAll("-", "_")}`;
		await createWebhook({ url: receiverPath("ok", uniqueName("backlog")), events: [type] });
		const backlog = { count: 10, oldestAgeSeconds: 5 as number | null };
		const bounded = (bounds: Partial<Env>): Env => ({
			...env,
			MAX_BACKLOG_AGE_SECONDS: "60",
			MAX_BACKLOG_MESSAGES: "1000",
			...bounds,
			DELIVERY_QUEUE: queueReporting(env.DELIVERY_QUEUE, backlog),
		});
		const send = async (settings: Env, id: string) => {
			const ctx = createExecutionContext();
			const response = await worker.fetch(
				new Request("http://edgehook.test/v1/events", {
					method: "POST",
					headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
					body: JSON.stringify({ type, id, data: {} }),
				}),
				settings,
				ctx,
			);
			await waitOnExecutionContext(ctx);
			return {
				status: response.status,
				retryAfter: response.headers.get("retry-after"),
				body: record(await response.json()),
			};
		};
		const stored = async (id: string) =>
			(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE id = ?").bind(id).first<{ n: number }>())?.n;
		const name = uniqueName("bp");
		// The backlog is the one the last send reported: an accepted event's send brings the news.
		const accepted = async (label: string) => expect((await send(bounded({}), `${name}-${label}`)).status).toBe(202);

		await accepted("calm");
		backlog.oldestAgeSeconds = 120;
		await accepted("reports-the-new-backlog");
		const old = await send(bounded({}), `${name}-old`);
		expect(old.status).toBe(503);
		expect(old.retryAfter).toBe("30");
		expect(record(old.body.error).code).toBe("unavailable");
		expect(String(record(old.body.error).message)).toContain(
			"its oldest message has waited 120 s, over the bound of 60 s",
		);
		expect(await stored(`${name}-old`)).toBe(0);
		// 0 turns the age bound off.
		expect((await send(bounded({ MAX_BACKLOG_AGE_SECONDS: "0" }), `${name}-unbounded`)).status).toBe(202);

		backlog.oldestAgeSeconds = null;
		backlog.count = 5000;
		await send(bounded({ MAX_BACKLOG_AGE_SECONDS: "0" }), `${name}-reports-a-long-backlog`);
		const long = await send(bounded({}), `${name}-long`);
		expect(long.status).toBe(503);
		expect(String(record(long.body.error).message)).toContain("it holds 5000 messages, over the bound of 1000");
		expect(await stored(`${name}-long`)).toBe(0);

		// While everything is refused nothing is sent, so nothing reports the drained queue: once the last
		// report is READING_TRUSTED_MS old the next event is accepted, and its send measures again.
		backlog.count = 3;
		expect((await send(bounded({}), `${name}-still-refused`)).status).toBe(503);
		await sleep(READING_TRUSTED_MS + 100);
		await accepted("after-the-report-aged");
		await accepted("drained");
		expect(await stored(`${name}-drained`)).toBe(1);
	}, 20_000);
});
