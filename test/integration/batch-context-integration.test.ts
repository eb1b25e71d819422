import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { templateFor } from "../../src/channels/render";
import { loadContext } from "../../src/queue/context";
import type { DeliveryJob } from "../../src/queue/messages";
import { uniqueName } from "./helpers";

/** Rows written straight to DB, so the test controls every id the batch names. */
async function seed(tenantId: string, deletedAt: number | null, endpointCount: number, withTemplate: boolean) {
	const now = Date.now();
	const statements = [
		env.DB.prepare("INSERT INTO tenants (id, name, settings, created_at, deleted_at) VALUES (?, ?, ?, ?, ?)").bind(
			tenantId,
			tenantId,
			JSON.stringify({ timeout_ms: 1234 }),
			now,
			deletedAt,
		),
		...Array.from({ length: endpointCount }, (_, index) =>
			env.DB.prepare(
				"INSERT INTO endpoints (tenant_id, id, url, events, secret, created_at, updated_at) VALUES (?, ?, 'https://example.com/hook', '[\"*\"]', 'whsec_x', ?, ?)",
			).bind(tenantId, `hook_${tenantId}_${index}`, now, now),
		),
	];
	if (withTemplate) {
		statements.push(
			env.DB.prepare(
				"INSERT INTO templates (tenant_id, channel, event_type, expression, created_at, updated_at) VALUES (?, 'slack', '*', ?, ?, ?)",
			).bind(tenantId, `"for ${tenantId}"`, now, now),
		);
	}
	const event = env.DB.prepare(
		"INSERT INTO events (tenant_id, id, type, data, endpoint_ids, created_at) VALUES (?, ?, 'ctx.test', '{}', '[]', ?) RETURNING seq",
	).bind(tenantId, `evt_${tenantId}`, now);
	const results = await env.DB.batch([...statements, event]);
	const seq = (results.at(-1)?.results[0] as { seq: number } | undefined)?.seq;
	if (seq === undefined) throw new Error("event not stored");
	return seq;
}

function job(tenantId: string, eventSeq: number, endpointIds: string[]): DeliveryJob {
	return {
		tenantId,
		eventSeq,
		targets: endpointIds.map((endpointId) => ({ endpointId, attempt: 1 })),
		trigger: "initial",
	};
}

/** The database, counting the statements of each batch sent through it and the rows each statement read. */
function counting(d1: D1Database): { d1: D1Database; statements: number[]; rowsRead: number[] } {
	const statements: number[] = [];
	const rowsRead: number[] = [];
	const wrapped = new Proxy(d1, {
		get(target, property) {
			if (property === "batch")
				return async (list: D1PreparedStatement[]) => {
					statements.push(list.length);
					const results = await target.batch(list);
					for (const result of results) rowsRead.push(result.meta.rows_read);
					return results;
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	return { d1: wrapped, statements, rowsRead };
}

describe("a delivery batch's context", () => {
	it("reads many endpoints, several tenants and their templates in two statements, leaving out deleted tenants", async () => {
		const big = uniqueName("ctxbig").replace("-", "_");
		const templated = uniqueName("ctxtpl").replace("-", "_");
		const deleted = uniqueName("ctxdel").replace("-", "_");
		const bigSeq = await seed(big, null, 150, false);
		const templatedSeq = await seed(templated, null, 1, true);
		const deletedSeq = await seed(deleted, Date.now(), 1, true);
		const bigIds = Array.from({ length: 150 }, (_, index) => `hook_${big}_${index}`);
		const jobs = [
			job(big, bigSeq, bigIds.slice(0, 100)),
			job(big, bigSeq, [...bigIds.slice(100), `hook_${big}_missing`]),
			// Another tenant's endpoint named in this tenant's job is not this tenant's.
			job(templated, templatedSeq, [`hook_${templated}_0`, `hook_${big}_0`]),
			job(deleted, deletedSeq, [`hook_${deleted}_0`]),
		];

		const database = counting(env.DB);
		const context = await loadContext(database.d1, jobs);

		expect(database.statements).toEqual([2]);
		expect([...context.events.keys()].sort()).toEqual([bigSeq, templatedSeq, deletedSeq].sort());
		for (const id of bigIds) expect(context.endpoints.get(`${big}/${id}`)?.id).toBe(id);
		expect(context.endpoints.has(`${big}/hook_${big}_missing`)).toBe(false);
		expect(context.endpoints.get(`${templated}/hook_${templated}_0`)?.url).toBe("https://example.com/hook");
		expect(context.endpoints.has(`${templated}/hook_${big}_0`)).toBe(false);
		expect(context.endpoints.has(`${deleted}/hook_${deleted}_0`)).toBe(false);
		expect([...context.tenantSettings.keys()].sort()).toEqual([big, templated].sort());
		expect(context.tenantSettings.get(big)).toEqual({ timeout_ms: 1234 });
		expect(templateFor(context.templates, templated, "slack", "ctx.test")).toBe(`"for ${templated}"`);
		expect(templateFor(context.templates, big, "slack", "ctx.test")).toBeNull();
		expect(templateFor(context.templates, deleted, "slack", "ctx.test")).toBeNull();
		expect(context.deliveryStatus.size).toBe(0);
	});

	it("reads a tenant's templates once however many of its endpoints the batch names", async () => {
		const now = Date.now();
		/** Rows the tenant statement reads for a batch naming 60 endpoints of a tenant with `templateCount` templates. */
		const rowsRead = async (templateCount: number) => {
			const tenant = uniqueName("ctxmany").replace("-", "_");
			const seq = await seed(tenant, null, 60, false);
			const channels = (["slack", "discord", "email"] as const).slice(0, templateCount);
			for (const channel of channels) {
				await env.DB.prepare(
					"INSERT INTO templates (tenant_id, channel, event_type, expression, created_at, updated_at) VALUES (?, ?, '*', '\"x\"', ?, ?)",
				)
					.bind(tenant, channel, now, now)
					.run();
			}
			const database = counting(env.DB);
			const ids = Array.from({ length: 60 }, (_, index) => `hook_${tenant}_${index}`);
			const context = await loadContext(database.d1, [job(tenant, seq, ids)]);
			expect(context.endpoints.size).toBe(60);
			for (const channel of channels) expect(templateFor(context.templates, tenant, channel, "t")).toBe('"x"');
			return database.rowsRead[1] ?? 0;
		};
		const without = await rowsRead(0);
		const withThree = await rowsRead(3);
		// Three templates read once are three rows more; read with each of the 60 endpoint rows they were 180.
		expect(withThree - without).toBeLessThan(20);
	});

	it("comes back for a live tenant whose endpoints in the batch are all gone, so their deliveries settle", async () => {
		const tenant = uniqueName("ctxgone").replace("-", "_");
		const seq = await seed(tenant, null, 0, false);
		const context = await loadContext(env.DB, [job(tenant, seq, [`hook_${tenant}_deleted`])]);
		expect(context.tenantSettings.has(tenant)).toBe(true);
		expect(context.endpoints.size).toBe(0);
	});
});
