import { Webhook } from "svix";
import { describe, expect, it } from "vitest";
import { api, createWebhook, receivedBy, receiverPath, record, uniqueName, waitFor } from "./helpers";

/*
 * What the native /v1/webhooks API gained for the Svix-compatible face
 * (issue 17): uids usable in every path, routing labels, the svix-* header
 * style, Svix-sized secrets; and /v1/tasks listing, across tenants for the
 * admin key.
 */

/** The base64 of `bytes` random bytes, with the whsec_ prefix. */
function secretOf(bytes: number): string {
	let binary = "";
	for (const byte of crypto.getRandomValues(new Uint8Array(bytes))) binary += String.fromCharCode(byte);
	return `whsec_${btoa(binary)}`;
}

function fieldsOf(body: unknown): string[] {
	return (record(record(body).error).details as { field: string }[]).map((detail) => detail.field);
}

async function tenantWithKey(): Promise<{ id: string; key: string }> {
	const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("uid-labels") } })).body);
	const key = record((await api("POST", `/v1/tenants/${tenant.id}/api-keys`, { body: { name: "k" } })).body);
	return { id: String(tenant.id), key: String(key.key) };
}

describe("webhook uid", () => {
	it("stores a uid, returns it, and answers every /v1/webhooks/{id} route by it", async () => {
		const uid = uniqueName("billing.main_1");
		const hook = await createWebhook({ url: "https://example.com/h", events: ["*"], uid });
		expect(hook.uid).toBe(uid);

		const got = await api("GET", `/v1/webhooks/${uid}`);
		expect(got.status).toBe(200);
		expect(record(got.body).id).toBe(hook.id);
		expect(record((await api("GET", `/v1/webhooks/${uid}/secret`)).body).secret).toBe(hook.secret);
		expect((await api("GET", `/v1/webhooks/${uid}/stats`)).status).toBe(200);
		expect((await api("GET", `/v1/webhooks/${uid}/deliveries`)).status).toBe(200);

		const patched = await api("PATCH", `/v1/webhooks/${uid}`, { body: { description: "by uid" } });
		expect(patched.status).toBe(200);
		expect(record(patched.body)).toMatchObject({ id: hook.id, description: "by uid" });

		const rotated = await api("POST", `/v1/webhooks/${uid}/rotate-secret`, { body: {} });
		expect(rotated.status).toBe(200);
		expect(record((await api("GET", `/v1/webhooks/${hook.id}/secret`)).body).secret).toBe(record(rotated.body).secret);

		expect((await api("DELETE", `/v1/webhooks/${uid}`)).status).toBe(204);
		expect((await api("GET", `/v1/webhooks/${hook.id}`)).status).toBe(404);
	});

	it("answers 409 for a uid another endpoint of the tenant has, on create and on patch, storing nothing", async () => {
		const uid = uniqueName("dup");
		await createWebhook({ url: "https://example.com/a", events: ["*"], uid });
		const before = record((await api("GET", "/v1/webhooks?limit=250")).body).webhooks as unknown[];

		const duplicate = await api("POST", "/v1/webhooks", { body: { url: "https://example.com/b", events: ["*"], uid } });
		expect(duplicate.status).toBe(409);
		expect(record(record(duplicate.body).error)).toMatchObject({ code: "conflict" });
		expect(record(record(duplicate.body).error).message).toContain(uid);
		expect(record((await api("GET", "/v1/webhooks?limit=250")).body).webhooks).toHaveLength(before.length);

		const other = await createWebhook({ url: "https://example.com/c", events: ["*"] });
		const taken = await api("PATCH", `/v1/webhooks/${other.id}`, { body: { uid } });
		expect(taken.status).toBe(409);
		expect(record((await api("GET", `/v1/webhooks/${other.id}`)).body).uid).toBeNull();
	});

	it("lets another tenant use the same uid, and never resolves one tenant's uid for another", async () => {
		const uid = uniqueName("shared");
		await createWebhook({ url: "https://example.com/a", events: ["*"], uid });
		const tenant = await tenantWithKey();
		const theirs = await api("POST", "/v1/webhooks", {
			auth: tenant.key,
			body: { url: "https://example.com/b", events: ["*"], uid },
		});
		expect(theirs.status).toBe(201);
		const seen = await api("GET", `/v1/webhooks/${uid}`, { auth: tenant.key });
		expect(record(seen.body).id).toBe(record(theirs.body).id);
		await api("DELETE", `/v1/webhooks/${uid}`, { auth: tenant.key });
		expect((await api("GET", `/v1/webhooks/${uid}`, { auth: tenant.key })).status).toBe(404);
		expect((await api("GET", `/v1/webhooks/${uid}`)).status).toBe(200);
	});

	it("clears a uid with null, after which the uid no longer names the endpoint", async () => {
		const uid = uniqueName("clear");
		const hook = await createWebhook({ url: "https://example.com/h", events: ["*"], uid });
		const cleared = await api("PATCH", `/v1/webhooks/${uid}`, { body: { uid: null } });
		expect(record(cleared.body).uid).toBeNull();
		expect((await api("GET", `/v1/webhooks/${uid}`)).status).toBe(404);
		expect((await api("GET", `/v1/webhooks/${hook.id}`)).status).toBe(200);
	});

	it("refuses malformed uids with a 422 naming uid, storing nothing", async () => {
		for (const uid of ["", "has space", "hook_looks_like_an_id", "x".repeat(257), "semi;colon"]) {
			const response = await api("POST", "/v1/webhooks", {
				body: { url: "https://example.com/h", events: ["*"], uid },
			});
			expect(response.status, uid).toBe(422);
			expect(new Set(fieldsOf(response.body))).toEqual(new Set(["uid"]));
		}
	});
});

describe("webhook labels", () => {
	it("stores labels, returns them, and clears them with null", async () => {
		const hook = await createWebhook({
			url: "https://example.com/h",
			events: ["*"],
			labels: ["project-7", "eu:west+1"],
		});
		expect(hook.labels).toEqual(["project-7", "eu:west+1"]);
		const unlabelled = await createWebhook({ url: "https://example.com/h", events: ["*"] });
		expect(unlabelled.labels).toBeNull();
		const cleared = await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { labels: null } });
		expect(record(cleared.body).labels).toBeNull();
	});

	it("refuses an empty list, more than 10, too long or malformed labels with a 422 naming labels", async () => {
		const bad = [[], Array.from({ length: 11 }, (_, i) => `l${i}`), ["x".repeat(129)], ["a b"], [""]];
		for (const labels of bad) {
			const response = await api("POST", "/v1/webhooks", {
				body: { url: "https://example.com/h", events: ["*"], labels },
			});
			expect(response.status, JSON.stringify(labels)).toBe(422);
			expect(fieldsOf(response.body)[0]).toMatch(/^labels/);
		}
	});
});

describe("webhook secrets in Svix's form", () => {
	it("accepts whsec_ secrets of 24 to 75 bytes and refuses shorter and longer ones", async () => {
		for (const bytes of [24, 32, 75]) {
			const secret = secretOf(bytes);
			const hook = await createWebhook({ url: "https://example.com/h", events: ["*"], secret });
			expect(hook.secret, String(bytes)).toBe(secret);
		}
		for (const bytes of [23, 76]) {
			const response = await api("POST", "/v1/webhooks", {
				body: { url: "https://example.com/h", events: ["*"], secret: secretOf(bytes) },
			});
			expect(response.status, String(bytes)).toBe(422);
			expect(fieldsOf(response.body)).toEqual(["secret"]);
		}
	});

	it("refuses Svix's asymmetric keys (whsk_, whpk_) with a 422 that says why", async () => {
		for (const secret of ["whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whpk1_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]) {
			const response = await api("POST", "/v1/webhooks", {
				body: { url: "https://example.com/h", events: ["*"], secret },
			});
			expect(response.status).toBe(422);
			const [detail] = record(record(response.body).error).details as { field: string; message: string }[];
			expect(detail).toMatchObject({ field: "secret" });
			expect(detail?.message).toContain("asymmetric");
		}
	});
});

describe("svix-* header style", () => {
	it("refuses svix-* names as custom headers, as it refuses webhook-* ones", async () => {
		for (const name of ["svix-signature", "Svix-Id", "svix-anything", "x-svix-thing"]) {
			const response = await api("POST", "/v1/webhooks", {
				body: { url: "https://example.com/h", events: ["*"], headers: { [name]: "x" } },
			});
			expect(response.status, name).toBe(422);
			expect(fieldsOf(response.body)).toEqual(["headers"]);
		}
	});

	it("sends svix-id, svix-timestamp and svix-signature instead of webhook-*, verifying with svix's Webhook and by hand", async () => {
		const name = uniqueName("svix-style");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["svix.style"], header_style: "svix" });
		expect(hook.header_style).toBe("svix");
		const event = record((await api("POST", "/v1/events", { body: { type: "svix.style", data: { n: 1 } } })).body);
		const [request] = await waitFor(async () => {
			const received = await receivedBy(name);
			return received.length > 0 ? received : undefined;
		});
		if (!request) throw new Error("receiver got nothing");
		expect(request.headers["svix-id"]).toBe(event.id);
		expect(request.headers["svix-timestamp"]).toMatch(/^\d+$/);
		expect(request.headers["svix-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
		expect(request.headers["webhook-id"]).toBeUndefined();
		expect(request.headers["webhook-signature"]).toBeUndefined();
		// The tenant's own headers stay as they are.
		expect(request.headers["x-webhook-id"]).toBe(event.id);
		expect(request.headers["x-webhook-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);

		const secret = String(hook.secret);
		expect(() => new Webhook(secret).verify(request.body, request.headers)).not.toThrow();
		// By hand, as a receiver reading svix-signature itself does.
		const key = await crypto.subtle.importKey(
			"raw",
			Uint8Array.from(atob(secret.slice("whsec_".length)), (char) => char.charCodeAt(0)),
			{ name: "HMAC", hash: "SHA-256" },
			false,
			["sign"],
		);
		const signed = `${request.headers["svix-id"]}.${request.headers["svix-timestamp"]}.${request.body}`;
		const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(signed)));
		expect(request.headers["svix-signature"]).toBe(`v1,${btoa(String.fromCharCode(...mac))}`);
	});

	it("signs with every active secret in svix-signature during a rotation's grace period", async () => {
		const name = uniqueName("svix-rotate");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["svix.rotate"], header_style: "svix" });
		const rotated = record((await api("POST", `/v1/webhooks/${hook.id}/rotate-secret`, { body: {} })).body);
		await api("POST", "/v1/events", { body: { type: "svix.rotate", data: {} } });
		const [request] = await waitFor(async () => {
			const received = await receivedBy(name);
			return received.length > 0 ? received : undefined;
		});
		if (!request) throw new Error("receiver got nothing");
		expect(request.headers["svix-signature"]?.split(" ")).toHaveLength(2);
		expect(() => new Webhook(String(rotated.secret)).verify(request.body, request.headers)).not.toThrow();
		expect(() => new Webhook(String(hook.secret)).verify(request.body, request.headers)).not.toThrow();
	});

	it("keeps webhook-* for endpoints that do not ask for svix-*, and switches with a patch", async () => {
		const name = uniqueName("webhook-style");
		const hook = await createWebhook({ url: receiverPath("ok", name), events: ["style.switch"] });
		expect(hook.header_style).toBe("webhook");
		await api("POST", "/v1/events", { body: { type: "style.switch", data: {} } });
		const [first] = await waitFor(async () => {
			const received = await receivedBy(name);
			return received.length > 0 ? received : undefined;
		});
		expect(first?.headers["webhook-signature"]).toBeDefined();
		expect(first?.headers["svix-signature"]).toBeUndefined();

		const patched = await api("PATCH", `/v1/webhooks/${hook.id}`, { body: { header_style: "svix" } });
		expect(record(patched.body).header_style).toBe("svix");
		await api("POST", "/v1/events", { body: { type: "style.switch", data: {} } });
		const second = await waitFor(async () => {
			const received = await receivedBy(name);
			return received.length > 1 ? received[1] : undefined;
		});
		expect(second.headers["svix-signature"]).toBeDefined();
		expect(second.headers["webhook-signature"]).toBeUndefined();
	});

	it("refuses an unknown header_style with a 422", async () => {
		const response = await api("POST", "/v1/webhooks", {
			body: { url: "https://example.com/h", events: ["*"], header_style: "stripe" },
		});
		expect(response.status).toBe(422);
		expect(fieldsOf(response.body)).toEqual(["header_style"]);
	});

	it("stores the tenant setting svix_header_style and refuses other values", async () => {
		const tenant = record((await api("POST", "/v1/tenants", { body: { name: uniqueName("style") } })).body);
		const patched = await api("PATCH", `/v1/tenants/${tenant.id}`, {
			body: { settings: { svix_header_style: "webhook" } },
		});
		expect(patched.status).toBe(200);
		expect(record(record(patched.body).settings).svix_header_style).toBe("webhook");
		const bad = await api("PATCH", `/v1/tenants/${tenant.id}`, { body: { settings: { svix_header_style: "x" } } });
		expect(bad.status).toBe(422);
	});
});

describe("webhook list order", () => {
	it("lists by id descending with order=desc, paging on in the same order", async () => {
		const tenant = await tenantWithKey();
		for (let i = 0; i < 3; i++) {
			await api("POST", "/v1/webhooks", { auth: tenant.key, body: { url: "https://example.com/h", events: ["*"] } });
		}
		const ids: string[] = [];
		let cursor: string | null = null;
		do {
			const query: string = cursor === null ? "" : `&cursor=${cursor}`;
			const page = record((await api("GET", `/v1/webhooks?order=desc&limit=2${query}`, { auth: tenant.key })).body);
			ids.push(...(page.webhooks as { id: string }[]).map((hook) => hook.id));
			cursor = page.next_cursor as string | null;
		} while (cursor !== null);
		expect(ids).toHaveLength(3);
		expect(ids).toEqual([...ids].sort().reverse());
	});
});

describe("webhook stats since/until", () => {
	it("counts only deliveries created in [since, until) when given, and refuses since after until", async () => {
		const hook = await createWebhook({ url: receiverPath("ok", uniqueName("stats")), events: ["stats.range"] });
		await api("POST", "/v1/events", { body: { type: "stats.range", data: {} } });
		await waitFor(async () => {
			const stats = record((await api("GET", `/v1/webhooks/${hook.id}/stats`)).body);
			return record(stats.totals).succeeded === 1 ? stats : undefined;
		}, 10_000);
		const hourAgo = new Date(Date.now() - 3600_000).toISOString();
		const future = new Date(Date.now() + 3600_000).toISOString();
		const inRange = record((await api("GET", `/v1/webhooks/${hook.id}/stats?since=${hourAgo}&until=${future}`)).body);
		expect(record(inRange.totals).succeeded).toBe(1);
		const before = record((await api("GET", `/v1/webhooks/${hook.id}/stats?until=${hourAgo}`)).body);
		expect(record(before.totals).deliveries).toBe(0);
		const after = record((await api("GET", `/v1/webhooks/${hook.id}/stats?since=${future}`)).body);
		expect(record(after.totals).deliveries).toBe(0);
		const wrong = await api("GET", `/v1/webhooks/${hook.id}/stats?since=${future}&until=${hourAgo}`);
		expect(wrong.status).toBe(422);
		const malformed = await api("GET", `/v1/webhooks/${hook.id}/stats?since=yesterday`);
		expect(malformed.status).toBe(422);
	}, 15_000);
});

describe("task list", () => {
	async function recoverTask(auth?: string): Promise<Record<string, unknown>> {
		const options = auth === undefined ? {} : { auth };
		const hook = record(
			(await api("POST", "/v1/webhooks", { ...options, body: { url: "https://example.com/h", events: ["*"] } })).body,
		);
		const since = new Date(Date.now() - 3600_000).toISOString();
		const task = await api("POST", `/v1/webhooks/${hook.id}/recover`, { ...options, body: { since } });
		expect(task.status).toBe(202);
		return record(task.body);
	}

	it("lists a tenant's own tasks, filtered by status and kind, with tenant_id", async () => {
		const tenant = await tenantWithKey();
		const task = await recoverTask(tenant.key);
		expect(task.tenant_id).toBe(tenant.id);
		await recoverTask();
		const listed = record((await api("GET", "/v1/tasks", { auth: tenant.key })).body);
		expect((listed.tasks as { id: string }[]).map((entry) => entry.id)).toEqual([task.id]);
		const done = await waitFor(async () => {
			const got = record((await api("GET", `/v1/tasks/${task.id}`, { auth: tenant.key })).body);
			return got.status === "completed" ? got : undefined;
		});
		expect(done.status).toBe("completed");
		const completed = record(
			(await api("GET", "/v1/tasks?status=completed,failed&kind=recover", { auth: tenant.key })).body,
		);
		expect(completed.tasks).toHaveLength(1);
		const running = record((await api("GET", "/v1/tasks?status=queued,running", { auth: tenant.key })).body);
		expect(running.tasks).toHaveLength(0);
		expect((await api("GET", "/v1/tasks?status=done", { auth: tenant.key })).status).toBe(422);
	});

	it("finds any tenant's task by id alone with the admin key and tenants=all, and refuses tenants=all to a tenant key", async () => {
		const tenant = await tenantWithKey();
		const task = await recoverTask(tenant.key);
		expect((await api("GET", `/v1/tasks/${task.id}`)).status).toBe(404);
		const found = await api("GET", `/v1/tasks/${task.id}?tenants=all`);
		expect(found.status).toBe(200);
		expect(record(found.body)).toMatchObject({ id: task.id, tenant_id: tenant.id });

		const ids: string[] = [];
		let cursor: string | null = null;
		do {
			const query: string = cursor === null ? "" : `&cursor=${cursor}`;
			const page = record((await api("GET", `/v1/tasks?tenants=all&limit=100${query}`)).body);
			ids.push(...(page.tasks as { id: string }[]).map((entry) => entry.id));
			cursor = page.next_cursor as string | null;
		} while (cursor !== null);
		expect(ids).toContain(task.id);
		expect(ids).toEqual([...ids].sort().reverse());

		const refused = await api("GET", "/v1/tasks?tenants=all", { auth: tenant.key });
		expect(refused.status).toBe(403);
		expect((await api("GET", `/v1/tasks/${task.id}?tenants=all`, { auth: tenant.key })).status).toBe(403);
	});
});
