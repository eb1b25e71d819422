import { describe, expect, it } from "vitest";
import { api, record, uniqueName } from "./helpers";

async function tenantKey(): Promise<string> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: "Catalog reader" } })).body);
	const created = await api("POST", `/v1/tenants/${String(tenant.id)}/api-keys`, { body: { name: "reader" } });
	return String(record(created.body).key);
}

function typeName(): string {
	return `catalog.${uniqueName("type").replace("-", "_")}`;
}

describe("the deployment's event type catalog (/v1/catalog/event-types)", () => {
	it("creates, reads, patches, archives, brings back and expunges an event type", async () => {
		const name = typeName();
		const created = await api("POST", "/v1/catalog/event-types", {
			body: {
				name,
				description: "A thing happened",
				schemas: { "1": { type: "object" } },
				group_name: "things",
				feature_flags: ["beta"],
			},
		});
		expect(created.status).toBe(201);
		expect(created.body).toMatchObject({
			name,
			description: "A thing happened",
			archived: false,
			deprecated: false,
			schemas: { "1": { type: "object" } },
			group_name: "things",
			feature_flags: ["beta"],
		});

		const duplicate = await api("POST", "/v1/catalog/event-types", { body: { name } });
		expect(duplicate.status).toBe(409);
		expect(duplicate.body).toMatchObject({ error: { code: "conflict" } });

		const patched = await api("PATCH", `/v1/catalog/event-types/${name}`, {
			body: { deprecated: true, group_name: null, feature_flags: null },
		});
		expect(patched.status).toBe(200);
		expect(patched.body).toMatchObject({
			deprecated: true,
			group_name: null,
			feature_flags: null,
			description: "A thing happened",
		});

		expect((await api("DELETE", `/v1/catalog/event-types/${name}`)).status).toBe(204);
		const archived = await api("GET", `/v1/catalog/event-types/${name}`);
		expect(archived.body).toMatchObject({ archived: true });
		const live = record((await api("GET", "/v1/catalog/event-types?limit=250")).body).event_types as { name: string }[];
		expect(live.map((type) => type.name)).not.toContain(name);
		const all = record((await api("GET", "/v1/catalog/event-types?limit=250&include_archived=true")).body)
			.event_types as { name: string }[];
		expect(all.map((type) => type.name)).toContain(name);

		// Creating an archived name again replaces it and brings it back.
		const revived = await api("POST", "/v1/catalog/event-types", { body: { name, description: "Again" } });
		expect(revived.status).toBe(201);
		expect(revived.body).toMatchObject({ archived: false, deprecated: false, description: "Again", schemas: null });

		expect((await api("DELETE", `/v1/catalog/event-types/${name}?expunge=true`)).status).toBe(204);
		expect((await api("GET", `/v1/catalog/event-types/${name}`)).status).toBe(404);
		expect((await api("DELETE", `/v1/catalog/event-types/${name}`)).status).toBe(404);
	});

	it("upserts with PUT: 201 when created, 200 when replaced", async () => {
		const name = typeName();
		const created = await api("PUT", `/v1/catalog/event-types/${name}`, {
			body: { description: "first", deprecated: true },
		});
		expect(created.status).toBe(201);
		const replaced = await api("PUT", `/v1/catalog/event-types/${name}`, { body: { description: "second" } });
		expect(replaced.status).toBe(200);
		expect(replaced.body).toMatchObject({ description: "second", deprecated: false });
		expect(record(replaced.body).created_at).toBe(record(created.body).created_at);
	});

	it("pages by name", async () => {
		const prefix = `paged.${uniqueName("p").replace("-", "_")}`;
		for (const suffix of ["a", "b", "c"]) {
			await api("POST", "/v1/catalog/event-types", { body: { name: `${prefix}.${suffix}` } });
		}
		const seen: string[] = [];
		let cursor: string | null = null;
		do {
			const query: string = cursor === null ? "" : `&cursor=${cursor}`;
			const page = record((await api("GET", `/v1/catalog/event-types?limit=2${query}`)).body);
			seen.push(...(page.event_types as { name: string }[]).map((type) => type.name));
			cursor = page.next_cursor as string | null;
		} while (cursor !== null);
		expect(seen).toEqual([...seen].sort());
		expect(seen.filter((name) => name.startsWith(prefix))).toEqual([`${prefix}.a`, `${prefix}.b`, `${prefix}.c`]);
	});

	it("is read by every key and written by the admin key only", async () => {
		const name = typeName();
		await api("POST", "/v1/catalog/event-types", { body: { name } });
		const key = await tenantKey();
		const read = await api("GET", `/v1/catalog/event-types/${name}`, { auth: key });
		expect(read.status).toBe(200);
		const list = await api("GET", "/v1/catalog/event-types?limit=250", { auth: key });
		expect((record(list.body).event_types as { name: string }[]).map((type) => type.name)).toContain(name);
		for (const [method, path, body] of [
			["POST", "/v1/catalog/event-types", { name: typeName() }],
			["PUT", `/v1/catalog/event-types/${name}`, {}],
			["PATCH", `/v1/catalog/event-types/${name}`, { description: "mine" }],
			["DELETE", `/v1/catalog/event-types/${name}`, undefined],
		] as const) {
			const response = await api(method, path, { auth: key, body });
			expect(response.status, `${method} ${path}`).toBe(403);
		}
		expect(record((await api("GET", `/v1/catalog/event-types/${name}`)).body)).toMatchObject({
			description: "",
			archived: false,
		});
	});

	it("refuses bad names, built-in names and bad fields", async () => {
		expect((await api("POST", "/v1/catalog/event-types", { body: { name: "has space" } })).status).toBe(422);
		expect((await api("POST", "/v1/catalog/event-types", { body: { name: "endpoint.failing" } })).status).toBe(409);
		const flags = await api("POST", "/v1/catalog/event-types", { body: { name: typeName(), feature_flags: [] } });
		expect(flags.status).toBe(422);
		const unknown = await api("POST", "/v1/catalog/event-types", { body: { name: typeName(), colour: "red" } });
		expect(unknown.status).toBe(422);
	});
});
