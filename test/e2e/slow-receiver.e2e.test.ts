import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { sendEvent, WebhookTracker } from "./support/api";
import { done, notYet, waitFor } from "./support/wait";

const ANSWER_AFTER_MS = 5000;
const EVENTS = 20;

/** A receiver that takes any number of requests at once and answers each 200 after five seconds. */
async function slowReceiver() {
	const arrivals: string[] = [];
	const answeredAt: number[] = [];
	let open = 0;
	let peak = 0;
	const server = createServer((request, response) => {
		open++;
		peak = Math.max(peak, open);
		arrivals.push(String(request.headers["webhook-id"]));
		request.resume();
		setTimeout(() => {
			response.end("OK");
			answeredAt.push(Date.now());
			open--;
		}, ANSWER_AFTER_MS);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return { url: `http://127.0.0.1:${port}/webhook`, arrivals, answeredAt, peak: () => peak, server };
}

describe("slow receivers", () => {
	const webhooks = new WebhookTracker();
	const servers: Server[] = [];

	afterAll(async () => {
		await webhooks.deleteAll();
		for (const server of servers) {
			server.closeAllConnections();
			server.close();
		}
	});

	it("a receiver answering in 5 s, many at once, gets 20 deliveries with several in flight, each once", async () => {
		const receiver = await slowReceiver();
		servers.push(receiver.server);
		// The suite's deployment timeout is 3 s; this receiver needs more.
		await webhooks.create({ url: receiver.url, events: ["slow.receiver"], timeout_ms: 10_000 });
		const started = Date.now();
		const ids: string[] = [];
		for (let index = 0; index < EVENTS; index++)
			ids.push((await sendEvent({ type: "slow.receiver", data: { index } })).id);
		await waitFor(
			`${EVENTS} deliveries answered`,
			() => {
				const answered = receiver.answeredAt.length;
				return answered >= EVENTS ? done(answered) : notYet(answered);
			},
			{ timeoutMs: 80_000, intervalMs: 100 },
		);
		const seconds = (Math.max(...receiver.answeredAt) - started) / 1000;
		console.log(
			`slow receiver: ${EVENTS} deliveries in ${seconds.toFixed(1)} s = ${(EVENTS / seconds).toFixed(2)}/s, peak ${receiver.peak()} in flight`,
		);
		expect([...receiver.arrivals].sort()).toEqual([...ids].sort());
		// Two in flight (as before) would take 50 s; one invocation holds at most six.
		expect(receiver.peak()).toBeGreaterThan(2);
		expect(receiver.peak()).toBeLessThanOrEqual(6);
		expect(seconds).toBeLessThan(35);
	}, 90_000);
});
