import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, receiverPath, record, uniqueName } from "./helpers";

async function countEvents(): Promise<number> {
	const row = await env.DB.prepare("SELECT count(*) AS n FROM events").first<{ n: number }>();
	return row?.n ?? -1;
}

describe("event ingest", () => {
	it("accepts an event, answers 202 with both timestamps, and fans out to matching active endpoints only", async () => {
		const type = `${uniqueName("fan")}.created`;
		const prefix = type.split(".")[0];
		const exact = await createWebhook({ url: receiverPath("ok", uniqueName("a")), events: [type] });
		const wildcard = await createWebhook({ url: receiverPath("ok", uniqueName("b")), events: [`${prefix}.*`] });
		const other = await createWebhook({ url: receiverPath("ok", uniqueName("c")), events: ["other.created"] });
		const inactive = await createWebhook({ url: receiverPath("ok", uniqueName("d")), events: ["*"], active: false });

		const response = await api("POST", "/v1/events", { body: { type, data: { n: 1 } } });
		expect(response.status).toBe(202);
		const event = record(response.body);
		expect(event.id).toMatch(/^evt_/);
		expect(event.type).toBe(type);
		expect(event.created_at).toBe(new Date(Number(event.created) * 1000).toISOString().replace(".000Z", "Z"));

		const detail = record((await api("GET", `/v1/events/${event.id}`)).body);
		const endpointIds = (detail.deliveries as { endpoint_id: string }[]).map((delivery) => delivery.endpoint_id);
		expect(endpointIds).toContain(exact.id);
		expect(endpointIds).toContain(wildcard.id);
		expect(endpointIds).not.toContain(other.id);
		expect(endpointIds).not.toContain(inactive.id);
		expect(detail.data).toEqual({ n: 1 });
	});

	it("answers a repeated id or Idempotency-Key with the original event and stores nothing new", async () => {
		const id = uniqueName("evt-mine");
		const first = await api("POST", "/v1/events", { body: { type: "a.b", data: { v: 1 }, id } });
		const count = await countEvents();
		const again = await api("POST", "/v1/events", { body: { type: "a.b", data: { v: 2 }, id } });
		expect(again.status).toBe(202);
		expect(again.body).toEqual(first.body);

		const key = uniqueName("key");
		const keyed = await api("POST", "/v1/events", {
			body: { type: "a.b", data: {} },
			headers: { "idempotency-key": key },
		});
		const keyedAgain = await api("POST", "/v1/events", {
			body: { type: "a.b", data: {} },
			headers: { "idempotency-key": key },
		});
		expect(record(keyedAgain.body).id).toBe(record(keyed.body).id);
		expect(await countEvents()).toBe(count + 1);
	});

	it("accepts a batch, and repeating it with the same key creates nothing", async () => {
		const key = uniqueName("batch");
		const body = {
			events: [
				{ type: "b.one", data: { i: 1 } },
				{ type: "b.two", data: { i: 2 } },
			],
		};
		const first = await api("POST", "/v1/events/batch", { body, headers: { "idempotency-key": key } });
		expect(first.status).toBe(202);
		expect((record(first.body).events as unknown[]).length).toBe(2);
		const count = await countEvents();
		const second = await api("POST", "/v1/events/batch", { body, headers: { "idempotency-key": key } });
		expect(second.body).toEqual(first.body);
		expect(await countEvents()).toBe(count);
	});

	it.each([
		["malformed JSON", { rawBody: "{nope", headers: { "content-type": "application/json" } }, 400, "invalid_json"],
		["a text body", { rawBody: "type=a", headers: { "content-type": "text/plain" } }, 415, "unsupported_media_type"],
		["a missing type", { body: { data: {} } }, 422, "validation_failed"],
		["data that is not an object", { body: { type: "a", data: [1] } }, 422, "validation_failed"],
		["a bad type name", { body: { type: "has space", data: {} } }, 422, "validation_failed"],
		["an unknown field", { body: { type: "a", data: {}, extra: true } }, 422, "validation_failed"],
		["an empty body", { rawBody: "", headers: { "content-type": "application/json" } }, 400, "invalid_json"],
		[
			"a payload over 256 KiB",
			{ body: { type: "a", data: { blob: "x".repeat(256 * 1024) } } },
			413,
			"payload_too_large",
		],
	])("refuses %s with a JSON error and stores nothing", async (_label, options, status, code) => {
		const count = await countEvents();
		const response = await api("POST", "/v1/events", options);
		expect(response.status).toBe(status);
		expect(record(record(response.body).error).code).toBe(code);
		expect(await countEvents()).toBe(count);
	});

	it("accepts a payload just under 256 KiB", async () => {
		const response = await api("POST", "/v1/events", {
			body: { type: "a", data: { blob: "x".repeat(256 * 1024 - 20) } },
		});
		expect(response.status).toBe(202);
	});

	it("refuses a batch of more than 100 events, or with one oversized event, storing none", async () => {
		const count = await countEvents();
		const tooMany = await api("POST", "/v1/events/batch", {
			body: { events: Array.from({ length: 101 }, () => ({ type: "a", data: {} })) },
		});
		expect(tooMany.status).toBe(422);
		const oversized = await api("POST", "/v1/events/batch", {
			body: {
				events: [
					{ type: "a", data: {} },
					{ type: "a", data: { blob: "x".repeat(256 * 1024 + 1) } },
				],
			},
		});
		expect(oversized.status).toBe(413);
		expect(await countEvents()).toBe(count);
	});

	it("lists oldest first after a cursor, filtered by type", async () => {
		const type = `${uniqueName("poll")}.tick`;
		const ids: string[] = [];
		for (let i = 0; i < 3; i++) {
			ids.push(String(record((await api("POST", "/v1/events", { body: { type, data: { i } } })).body).id));
		}
		const first = record((await api("GET", `/v1/events?type=${type}&limit=2`)).body);
		expect((first.events as { id: string }[]).map((event) => event.id)).toEqual(ids.slice(0, 2));
		expect(first.has_more).toBe(true);
		const rest = record((await api("GET", `/v1/events?type=${type}&limit=2&cursor=${String(first.next_cursor)}`)).body);
		expect((rest.events as { id: string }[]).map((event) => event.id)).toEqual(ids.slice(2));
		expect(rest.has_more).toBe(false);
		// A poller keeps its place when nothing new has arrived.
		const empty = record((await api("GET", `/v1/events?type=${type}&cursor=${String(rest.next_cursor)}`)).body);
		expect(empty.events).toEqual([]);
		expect(empty.next_cursor).toBe(rest.next_cursor);
	});

	it("lists newest first with order=desc, its cursor paging towards older events", async () => {
		const type = `${uniqueName("recent")}.tick`;
		const ids: string[] = [];
		for (let i = 0; i < 3; i++) {
			ids.push(String(record((await api("POST", "/v1/events", { body: { type, data: { i } } })).body).id));
		}
		const newest = record((await api("GET", `/v1/events?type=${type}&limit=2&order=desc`)).body);
		expect((newest.events as { id: string }[]).map((event) => event.id)).toEqual([ids[2], ids[1]]);
		expect(newest.has_more).toBe(true);
		const older = record(
			(await api("GET", `/v1/events?type=${type}&limit=2&order=desc&cursor=${String(newest.next_cursor)}`)).body,
		);
		expect((older.events as { id: string }[]).map((event) => event.id)).toEqual([ids[0]]);
		expect(older.has_more).toBe(false);
		expect((await api("GET", "/v1/events?order=newest")).status).toBe(422);
	});

	it("answers 404 for an unknown event", async () => {
		expect((await api("GET", "/v1/events/evt_nope")).status).toBe(404);
	});
});

describe("event types", () => {
	it("creates, lists, refuses duplicates and deletes", async () => {
		const name = `${uniqueName("cat")}.created`;
		const created = await api("POST", "/v1/event-types", {
			body: { name, description: "A thing was created", schema: { type: "object" } },
		});
		expect(created.status).toBe(201);
		expect(record(created.body)).toMatchObject({
			name,
			description: "A thing was created",
			schema: { type: "object" },
		});
		expect((await api("POST", "/v1/event-types", { body: { name } })).status).toBe(409);
		const list = record((await api("GET", "/v1/event-types?limit=250")).body);
		expect((list.event_types as { name: string }[]).map((type) => type.name)).toContain(name);
		expect((await api("DELETE", `/v1/event-types/${name}`)).status).toBe(204);
		expect((await api("DELETE", `/v1/event-types/${name}`)).status).toBe(404);
	});
});
