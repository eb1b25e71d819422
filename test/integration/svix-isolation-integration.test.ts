import { describe, expect, it } from "vitest";
import committed from "../../docs/svix-openapi.json";
import {
	api,
	describedOperations,
	receivedBy,
	receiverPath,
	record,
	tenantSnapshot,
	tenantWithKey,
	uniqueName,
	waitFor,
} from "./helpers";

/**
 * The tenant isolation matrix of the Svix face, generated from its committed
 * description: every operation whose path names an application or an object
 * is called with tenant A's key on tenant B's ids (B's application, or A's
 * own application with B's endpoint, message, attempt or task). Each answers
 * 404 (422 when an empty body is refused before anything is looked up), and
 * B's rows and receiver stay exactly as they were. A new operation is covered
 * without editing this file; a new kind of id fails until it gets a fixture.
 */

/** Event types are the deployment's catalog, shared by every tenant: nothing of B's to reach. */
const withIds = describedOperations(committed).filter(
	(operation) => operation.path.includes("{") && !operation.path.includes("/event-type"),
);

/** What the matrix compares: the tenant's rows on every database. */
const snapshot = (tenantId: string) =>
	tenantSnapshot(tenantId, ["endpoints", "events", "deliveries", "api_keys", "tasks"]);

describe("Svix face tenant isolation matrix", () => {
	it("covers the operations that take an id", () => {
		expect(withIds.length).toBeGreaterThanOrEqual(10);
	});

	it.each([
		["on the same shard", "SHARD_2", "SHARD_2"],
		["on different shards", "DB", "SHARD_3"],
	])(
		"answers A's key with 404 on B's application and B's objects, changing nothing, %s",
		async (_where, shardA, shardB) => {
			const a = await tenantWithKey("svix-isolation", shardA);
			const b = await tenantWithKey("svix-isolation", shardB);
			const asB = { auth: b.key };
			const receiver = uniqueName("svix-tenant-b");
			const endpoint = record(
				(
					await api("POST", `/api/v1/app/${b.id}/endpoint`, {
						...asB,
						body: { url: receiverPath("ok", receiver), uid: "b-endpoint" },
					})
				).body,
			);
			expect(endpoint.id).toEqual(expect.stringMatching(/^hook_/));
			const event = record((await api("POST", "/v1/events", { ...asB, body: { type: "b.only", data: {} } })).body);
			const delivery = await waitFor(async () => {
				const list = record((await api("GET", `/v1/webhooks/${endpoint.id}/deliveries`, asB)).body);
				const rows = list.deliveries as Record<string, unknown>[];
				return rows.length > 0 && rows[0]?.status === "success" ? rows[0] : undefined;
			});
			const attempts = record((await api("GET", `/v1/deliveries/${delivery.id}`, asB)).body).attempts as Record<
				string,
				unknown
			>[];
			const since = new Date(Date.now() - 60 * 60 * 1000).toISOString();
			const task = record(
				(await api("POST", `/api/v1/app/${b.id}/endpoint/${endpoint.id}/recover`, { ...asB, body: { since } })).body,
			);
			await waitFor(async () =>
				record((await api("GET", `/api/v1/background-task/${task.id}`, asB)).body).status === "finished"
					? true
					: undefined,
			);

			const idOf: Record<string, string> = {
				endpoint_id: String(endpoint.id),
				msg_id: String(event.id),
				attempt_id: String(attempts[0]?.id),
				task_id: String(task.id),
			};
			const before = await snapshot(b.id);
			const receivedBefore = (await receivedBy(receiver)).length;

			let calls = 0;
			for (const operation of withIds) {
				const names = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? "");
				for (const name of names) {
					if (name !== "app_id" && idOf[name] === undefined)
						throw new Error(`no fixture for ${name} (${operation.method} ${operation.path})`);
				}
				// B's application itself, and (when the path has more ids) A's own application with B's objects.
				const appIds = names.length > 1 ? [b.id, a.id] : [b.id];
				for (const appId of names.includes("app_id") ? appIds : [a.id]) {
					const path = operation.path.replace(/\{([^}]+)\}/g, (_match, name: string) =>
						encodeURIComponent(name === "app_id" ? appId : (idOf[name] ?? "")),
					);
					const response = await api(operation.method, path, {
						auth: a.key,
						body: operation.bodyRequired ? {} : undefined,
					});
					calls++;
					const allowed = operation.bodyRequired ? [404, 422] : [404];
					expect(
						allowed,
						`A's key: ${operation.method} ${path} answered ${response.status} ${JSON.stringify(response.body)}`,
					).toContain(response.status);
				}
			}
			expect(calls).toBeGreaterThanOrEqual(withIds.length);
			console.log(`Svix isolation matrix: ${withIds.length} operations with ids, ${calls} calls, 0 leaks`);
			expect(await snapshot(b.id)).toBe(before);
			expect((await receivedBy(receiver)).length).toBe(receivedBefore);
		},
	);
});
