import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { deliveryId } from "../../src/lib/ids";
import type { DeliveryJob } from "../../src/queue/messages";
import { sweep } from "../../src/reliability/sweeper";
import {
	api,
	createWebhook,
	jobsByEvent,
	receivedBy,
	receiverPath,
	record,
	shardOf,
	storedSeq,
	uniqueName,
	waitFor,
} from "./helpers";

/*
 * The native event features the Svix face maps: routing labels (Svix
 * `channels`), tags, deliver_at, the list filters and the replay signal.
 * Endpoint labels are set with SQL until the endpoints' `labels` field is
 * merged (it is another change's).
 */

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

async function labelEndpoint(tenantId: string, endpointId: unknown, labels: string[] | null): Promise<void> {
	await (await shardOf(tenantId))
		.prepare("UPDATE endpoints SET labels = ? WHERE id = ?")
		.bind(labels === null ? null : JSON.stringify(labels), String(endpointId))
		.run();
}

async function fanOutOf(eventId: string): Promise<string[]> {
	const detail = record((await api("GET", `/v1/events/${eventId}`)).body);
	return (detail.deliveries as { endpoint_id: string }[]).map((delivery) => delivery.endpoint_id).sort();
}

async function send(body: Record<string, unknown>, headers: Record<string, string> = {}) {
	return api("POST", "/v1/events", { body, headers });
}

async function eventCount(): Promise<number> {
	const row = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
	return row?.n ?? 0;
}

/** A queue that keeps what it is sent and with which delay. */
function capturingQueue(): { queue: Queue<DeliveryJob>; sent: { job: DeliveryJob; delaySeconds: number }[] } {
	const sent: { job: DeliveryJob; delaySeconds: number }[] = [];
	const metadata = { metrics: { backlogCount: 0, backlogBytes: 0 } };
	const queue: Queue<DeliveryJob> = {
		metrics: async () => metadata.metrics,
		send: async (body, options) => {
			sent.push({ job: body, delaySeconds: options?.delaySeconds ?? 0 });
			return { metadata };
		},
		sendBatch: async (messages) => {
			for (const message of messages) sent.push({ job: message.body, delaySeconds: message.delaySeconds ?? 0 });
			return { metadata };
		},
	};
	return { queue, sent };
}

async function deliverJob(job: DeliveryJob): Promise<void> {
	const batch = createMessageBatch<DeliveryJob>("edgehook-deliveries", [
		{ id: "m1", timestamp: new Date(), attempts: 1, body: job },
	]);
	await worker.queue(batch, env);
	await getQueueResult(batch, createExecutionContext());
}

describe("routing labels (Svix channels)", () => {
	it("sends an event with labels only to endpoints listening on one of them or on none, and one without labels only to endpoints listening on none", async () => {
		const type = `routed.${uniqueName("t")}`;
		const [a, b, unlabelled] = await Promise.all(
			["a", "b", "none"].map((name) => createWebhook({ url: receiverPath("ok", uniqueName(name)), events: [type] })),
		);
		await labelEndpoint("default", a?.id, ["project-a", "shared"]);
		await labelEndpoint("default", b?.id, ["project-b"]);

		const toA = record((await send({ type, data: {}, labels: ["project-a"] })).body);
		expect(toA.labels).toEqual(["project-a"]);
		expect(await fanOutOf(String(toA.id))).toEqual([String(a?.id), String(unlabelled?.id)].sort());

		const toBoth = record((await send({ type, data: {}, labels: ["shared", "project-b"] })).body);
		expect(await fanOutOf(String(toBoth.id))).toEqual([String(a?.id), String(b?.id), String(unlabelled?.id)].sort());

		// Svix's rule (svix-server core/message_app.rs): an endpoint with channels never gets a message without.
		const plain = record((await send({ type, data: {} })).body);
		expect(plain.labels).toBeNull();
		expect(await fanOutOf(String(plain.id))).toEqual([String(unlabelled?.id)]);
	});

	it("refuses labels Svix refuses, naming the field, and stores nothing", async () => {
		const before = await eventCount();
		for (const labels of [
			[],
			["has space"],
			Array.from({ length: 11 }, (_, i) => `l${i}`),
			["x".repeat(129)],
			["a", "a"],
		]) {
			const response = await send({ type: "routed.bad", data: {}, labels });
			expect(response.status, JSON.stringify(labels)).toBe(422);
			expect(JSON.stringify(response.body)).toContain('"field":"labels');
		}
		expect(await eventCount()).toBe(before);
	});
});

describe("tags and the list filters", () => {
	it("stores tags and filters the event list by tag, label, event types and time", async () => {
		const tag = uniqueName("tag");
		const typeA = `filtered.${uniqueName("a")}`;
		const typeB = `filtered.${uniqueName("b")}`;
		const first = record((await send({ type: typeA, data: { n: 1 }, tags: [tag, "x/y#z"] })).body);
		expect(first.tags).toEqual([tag, "x/y#z"]);
		await new Promise((resolve) => setTimeout(resolve, 5));
		const second = record((await send({ type: typeB, data: { n: 2 }, tags: [tag], labels: ["lbl-1"] })).body);
		await send({ type: typeB, data: { n: 3 } });

		const byTag = record((await api("GET", `/v1/events?order=desc&tag=${tag}`)).body);
		expect((byTag.events as { id: string }[]).map((event) => event.id)).toEqual([second.id, first.id]);

		const byLabel = record((await api("GET", "/v1/events?order=desc&label=lbl-1")).body);
		expect((byLabel.events as { id: string }[]).map((event) => event.id)).toEqual([second.id]);

		const byTypes = record((await api("GET", `/v1/events?order=desc&event_types=${typeA},${typeB}&tag=${tag}`)).body);
		expect(byTypes.events).toHaveLength(2);
		const onlyA = record((await api("GET", `/v1/events?order=desc&event_types=${typeA}`)).body);
		expect((onlyA.events as { id: string }[]).map((event) => event.id)).toEqual([first.id]);

		const secondAt = String(second.created_at);
		const beforeSecond = record(
			(
				await api(
					"GET",
					`/v1/events?order=desc&tag=${tag}&before=${encodeURIComponent(new Date(Date.parse(secondAt)).toISOString())}`,
				)
			).body,
		);
		expect((beforeSecond.events as { id: string }[]).map((event) => event.id)).not.toContain(second.id);
		const afterFirst = record(
			(
				await api(
					"GET",
					`/v1/events?order=desc&tag=${tag}&after=${encodeURIComponent(new Date(Date.now() - HOUR_MS).toISOString())}`,
				)
			).body,
		);
		expect(afterFirst.events).toHaveLength(2);
	});

	it("refuses more than five tags, a tag Svix refuses, and a filter that is not an event type", async () => {
		const before = await eventCount();
		expect((await send({ type: "t.x", data: {}, tags: ["1", "2", "3", "4", "5", "6"] })).status).toBe(422);
		expect((await send({ type: "t.x", data: {}, tags: ["no space"] })).status).toBe(422);
		expect(await eventCount()).toBe(before);
		expect((await api("GET", "/v1/events?event_types=a,not a type")).status).toBe(422);
		// Each name is a bound parameter (D1 takes 100 a statement): repeats count once, more than 50 names are refused.
		const repeated = Array.from({ length: 150 }, () => "a.b").join(",");
		expect((await api("GET", `/v1/events?event_types=${repeated}`)).status).toBe(200);
		const many = Array.from({ length: 60 }, (_, index) => `type.n${index}`).join(",");
		const tooMany = await api("GET", `/v1/events?event_types=${many}`);
		expect(tooMany.status).toBe(422);
		expect(JSON.stringify(tooMany.body)).toContain("at most 50 event types");
		expect((await api("GET", `/api/v1/app/default/msg?event_types=${many}`)).status).toBe(422);
		const statuses = Array.from({ length: 20 }, () => "queued").join(",");
		expect((await api("GET", `/v1/tasks?status=${statuses}`)).status).toBe(422);
		expect((await api("GET", "/v1/tasks?status=queued,queued,failed")).status).toBe(200);
		expect((await api("GET", "/v1/events?before=yesterday")).status).toBe(422);
	});
});

describe("the replay signal", () => {
	it("says whether an answer repeats an event by its id or by its idempotency key", async () => {
		const id = uniqueName("evt-own");
		const first = await send({ type: "replay.test", data: {}, id });
		expect(first.status).toBe(202);
		expect(first.headers.get("idempotent-replayed")).toBeNull();
		const again = await send({ type: "replay.test", data: { other: true }, id });
		expect(again.status).toBe(202);
		expect(again.headers.get("idempotent-replayed")).toBe("id");
		expect(record(again.body).id).toBe(id);

		const key = uniqueName("key");
		const keyed = await send({ type: "replay.test", data: {} }, { "idempotency-key": key });
		expect(keyed.headers.get("idempotent-replayed")).toBeNull();
		const retried = await send({ type: "replay.test", data: {} }, { "idempotency-key": key });
		expect(retried.headers.get("idempotent-replayed")).toBe("idempotency-key");
		expect(record(retried.body).id).toBe(record(keyed.body).id);

		// A retried request that carries its own id as well is a retry, not a second event.
		const both = uniqueName("evt-both");
		const bothKey = uniqueName("key");
		await send({ type: "replay.test", data: {}, id: both }, { "idempotency-key": bothKey });
		const bothAgain = await send({ type: "replay.test", data: {}, id: both }, { "idempotency-key": bothKey });
		expect(bothAgain.headers.get("idempotent-replayed")).toBe("idempotency-key");
	});

	it("takes a sender's event id up to 256 characters, and finds the event by it", async () => {
		const id = `long-${"x".repeat(251)}`;
		expect((await send({ type: "replay.long", data: {}, id })).status).toBe(202);
		expect((await api("GET", `/v1/events/${id}`)).status).toBe(200);
		expect((await send({ type: "replay.long", data: {}, id: `${id}y` })).status).toBe(422);
	});
});

describe("deliver_at", () => {
	it("refuses a time more than 30 days ahead or not a date-time, and stores nothing", async () => {
		const before = await eventCount();
		const far = new Date(Date.now() + 31 * DAY_MS).toISOString();
		const response = await send({ type: "scheduled.bad", data: {}, deliver_at: far });
		expect(response.status).toBe(422);
		expect(JSON.stringify(response.body)).toContain('"field":"deliver_at"');
		expect((await send({ type: "scheduled.bad", data: {}, deliver_at: "tomorrow" })).status).toBe(422);
		expect(await eventCount()).toBe(before);
	});

	it("sends an event whose time has already come at once, as any other", async () => {
		const name = uniqueName("past");
		const type = `scheduled.${name}`;
		await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const sent = record(
			(await send({ type, data: {}, deliver_at: new Date(Date.now() - HOUR_MS).toISOString() })).body,
		);
		expect(sent.deliver_at).toBeNull();
		await waitFor(async () => ((await receivedBy(name)).length > 0 ? true : undefined));
	});

	it("holds a near event's first attempt until its time, showing the delivery pending with that due time", async () => {
		const name = uniqueName("near");
		const type = `scheduled.${name}`;
		const hook = await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const deliverAt = new Date(Date.now() + 2500);
		const sent = record((await send({ type, data: { soon: true }, deliver_at: deliverAt.toISOString() })).body);
		expect(sent.deliver_at).toBe(deliverAt.toISOString());

		const detail = record((await api("GET", `/v1/events/${sent.id}`)).body);
		expect(detail.deliver_at).toBe(deliverAt.toISOString());
		expect(detail.deliveries).toEqual([
			expect.objectContaining({
				endpoint_id: hook.id,
				status: "pending",
				attempts: 0,
				next_attempt_at: deliverAt.toISOString(),
			}),
		]);
		const [request] = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length > 0 ? requests : undefined;
		}, 10_000);
		expect(request?.receivedAt).toBeGreaterThanOrEqual(deliverAt.getTime() - 50);
	});

	it("leaves an event further ahead than the queue can hold to the sweeper, which queues it within reach with the delay left, and sends it now if that was lost", async () => {
		const name = uniqueName("far");
		const type = `scheduled.${name}`;
		const hook = await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const deliverAtMs = Date.now() + 2 * DAY_MS;
		const sent = record(
			(await send({ type, data: { later: true }, deliver_at: new Date(deliverAtMs).toISOString() })).body,
		);
		const seq = await storedSeq(String(sent.id));
		const jobsFor = (sentJobs: { job: DeliveryJob; delaySeconds: number }[]) =>
			sentJobs.filter(({ job }) => job.eventSeq === seq);

		// Long after it was created, but a day and more before its time: not lost, not yet within reach.
		const early = capturingQueue();
		const earlyCounts = await sweep({ ...env, DELIVERY_QUEUE: early.queue }, Date.now() + HOUR_MS);
		expect(jobsFor(early.sent)).toEqual([]);
		expect(earlyCounts.firstAttemptsRequeued).toBe(0);
		const pending = record((await api("GET", `/v1/events/${sent.id}`)).body);
		expect(pending.deliveries).toEqual([
			expect.objectContaining({ status: "pending", next_attempt_at: new Date(deliverAtMs).toISOString() }),
		]);

		// Eleven hours before its time it is within the queue's 12 hours: queued once, with the delay left.
		const releaseAt = deliverAtMs - 11 * HOUR_MS;
		const release = capturingQueue();
		const released = await sweep({ ...env, DELIVERY_QUEUE: release.queue }, releaseAt);
		expect(released.scheduledReleased).toBe(1);
		expect(jobsFor(release.sent)).toEqual([
			{
				job: { tenantId: "default", eventSeq: seq, targets: [{ endpointId: hook.id, attempt: 1 }], trigger: "initial" },
				delaySeconds: 11 * 60 * 60,
			},
		]);
		const again = capturingQueue();
		await sweep({ ...env, DELIVERY_QUEUE: again.queue }, releaseAt + 60_000);
		expect(jobsFor(again.sent)).toEqual([]);

		// That delayed message never came (a restart, say): minutes after its time, it is queued at once.
		const late = capturingQueue();
		const lateCounts = await sweep({ ...env, DELIVERY_QUEUE: late.queue }, deliverAtMs + 10 * 60_000);
		expect(lateCounts.scheduledRequeued).toBe(1);
		const [lost] = jobsFor(late.sent);
		expect(lost?.delaySeconds).toBe(0);
		if (!lost) throw new Error("the lost scheduled event was not queued");
		await deliverJob(lost.job);
		const [request] = await waitFor(async () => {
			const requests = await receivedBy(name);
			return requests.length > 0 ? requests : undefined;
		});
		expect(request?.body).toContain('"later":true');

		// Delivered: a later run finds nothing missing.
		const after = capturingQueue();
		await sweep({ ...env, DELIVERY_QUEUE: after.queue }, deliverAtMs + 20 * 60_000);
		expect(jobsFor(after.sent)).toEqual([]);
	});
});

describe("a bulk of events scheduled for one time", () => {
	it("is released in one sweep run, past one page, in shared sends, and an event already attempted is not sent again", async () => {
		const name = uniqueName("bulk");
		const type = `scheduled.${name}`;
		const hook = await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const deliverAt = new Date(Date.now() + 2 * DAY_MS).toISOString();
		const ids: string[] = [];
		for (let batch = 0; batch < 12; batch++) {
			const events = Array.from({ length: 100 }, (_, index) => ({
				type,
				data: { batch, index },
				deliver_at: deliverAt,
			}));
			const accepted = record((await api("POST", "/v1/events/batch", { body: { events } })).body);
			ids.push(...(accepted.events as { id: string }[]).map((event) => event.id));
		}
		const seqs = new Set<number>();
		for (const id of ids) seqs.add(await storedSeq(id));
		// One of them already has its first attempt, as if the lost-event walk had got there first.
		const [attemptedSeq] = [...seqs];
		await env.DB.prepare(
			`INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, event_type, status, attempt_count, attempts, created_at, updated_at)
			 VALUES (?, 'default', ?, ?, ?, 'success', 1, '[]', ?, ?)`,
		)
			.bind(deliveryId(String(hook.id), attemptedSeq ?? 0), hook.id, ids[0], type, Date.now(), Date.now())
			.run();

		const release = capturingQueue();
		const counts = await sweep({ ...env, DELIVERY_QUEUE: release.queue }, Date.parse(deliverAt) - 11 * HOUR_MS);
		const ours = release.sent.filter(({ job }) => jobsByEvent([job]).some((one) => seqs.has(one.eventSeq)));
		expect(
			jobsByEvent(ours.map(({ job }) => job))
				.map((job) => job.eventSeq)
				.sort((a, b) => a - b),
		).toEqual([...seqs].filter((seq) => seq !== attemptedSeq).sort((a, b) => a - b));
		expect(new Set(ours.map(({ delaySeconds }) => delaySeconds))).toEqual(new Set([11 * 60 * 60]));
		expect(counts.scheduledReleased).toBeGreaterThanOrEqual(1199);
	}, 60_000);
});

describe("attempt and delivery lists", () => {
	it("lists an endpoint's and an event's attempts newest first, filtered and paged across deliveries", async () => {
		const name = uniqueName("attempts");
		const type = `attempted.${name}`;
		const hook = await createWebhook({ url: receiverPath("ok", name), events: [type] });
		const tag = uniqueName("t");
		const sent: string[] = [];
		for (let n = 0; n < 3; n++)
			sent.push(String(record((await send({ type, data: { n }, tags: n === 1 ? [tag] : undefined })).body).id));
		await waitFor(async () => ((await receivedBy(name)).length === 3 ? true : undefined));
		const manual = await api("POST", `/v1/deliveries/del_${String(hook.id).slice(5)}_${sent[2]}/retry`);
		expect(manual.status).toBe(202);
		await waitFor(async () => ((await receivedBy(name)).length === 4 ? true : undefined));

		type Listed = {
			attempts: { event_id: string; trigger: string; status: string; attempt: number; event?: { data: unknown } }[];
			next_cursor: string | null;
		};
		const all = await waitFor(async () => {
			const listed = record((await api("GET", `/v1/attempts?endpoint_id=${hook.id}`)).body) as unknown as Listed;
			return listed.attempts.length === 4 ? listed : undefined;
		});
		expect(all.attempts.map((attempt) => [attempt.event_id, attempt.attempt, attempt.trigger])).toEqual([
			[sent[2], 2, "manual"],
			[sent[2], 1, "initial"],
			[sent[1], 1, "initial"],
			[sent[0], 1, "initial"],
		]);
		expect(all.attempts.every((attempt) => attempt.status === "success")).toBe(true);
		// The endpoint named by its uid lists the same attempts, paged the same.
		const uid = uniqueName("attempts-uid");
		expect((await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { uid } })).status).toBe(200);
		const byUid = record((await api("GET", `/v1/attempts?endpoint_id=${uid}&limit=3`)).body) as unknown as Listed;
		expect(byUid.attempts.map((attempt) => [attempt.event_id, attempt.attempt])).toEqual(
			all.attempts.slice(0, 3).map((attempt) => [attempt.event_id, attempt.attempt]),
		);
		const byUidNext = record(
			(
				await api(
					"GET",
					`/v1/attempts?endpoint_id=${uid}&limit=3&cursor=${encodeURIComponent(String(byUid.next_cursor))}`,
				)
			).body,
		) as unknown as Listed;
		expect(byUidNext.attempts.map((attempt) => attempt.event_id)).toEqual([sent[0]]);

		const seen: string[] = [];
		let cursor: string | null = null;
		do {
			const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
			const listed = record(
				(await api("GET", `/v1/attempts?endpoint_id=${hook.id}&limit=3${query}`)).body,
			) as unknown as Listed;
			seen.push(...listed.attempts.map((attempt) => `${attempt.event_id}/${attempt.attempt}`));
			cursor = listed.next_cursor;
		} while (cursor !== null);
		expect(seen).toEqual(all.attempts.map((attempt) => `${attempt.event_id}/${attempt.attempt}`));

		const tagged = record(
			(await api("GET", `/v1/attempts?endpoint_id=${hook.id}&tag=${tag}&with_event=true`)).body,
		) as unknown as Listed;
		expect(tagged.attempts.map((attempt) => [attempt.event_id, attempt.event?.data])).toEqual([[sent[1], { n: 1 }]]);
		expect(record((await api("GET", `/v1/attempts?endpoint_id=${hook.id}&status=failed`)).body).attempts).toEqual([]);
		expect(record((await api("GET", `/v1/attempts?endpoint_id=${hook.id}&trigger=manual`)).body).attempts).toHaveLength(
			1,
		);
		const ofEvent = record((await api("GET", `/v1/attempts?event_id=${sent[2]}&limit=1`)).body) as unknown as Listed;
		expect(ofEvent.attempts.map((attempt) => attempt.attempt)).toEqual([2]);
		expect(ofEvent.next_cursor).not.toBeNull();
		expect((await api("GET", "/v1/attempts")).status).toBe(422);
		expect((await api("GET", "/v1/attempts?event_id=no-such-event")).status).toBe(404);

		const deliveries = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries?tag=${tag}&with_event=true`)).body);
		expect(deliveries.deliveries).toEqual([
			expect.objectContaining({ event_id: sent[1], event: expect.objectContaining({ tags: [tag] }) }),
		]);
		const plain = record((await api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body);
		expect((plain.deliveries as Record<string, unknown>[]).every((delivery) => !("event" in delivery))).toBe(true);
	});
});
