/**
 * The seed vendors' webhook profiles, each set up as a tenant through the API
 * and then used only through that tenant's own API key. Deliveries go to the
 * vendors' own verification snippets (test/fixtures/seeds/, verbatim), and
 * succeed only if the snippet accepts Edgehook's signature; an endpoint with
 * another secret is the negative control, proving the snippet really checks.
 *
 * Events are sent as raw, pretty-printed JSON with non-canonical numbers and
 * escapes (support/seed-events.ts): the Node snippets hash
 * JSON.stringify(req.body), the Python one hashes the raw body, so both
 * passing shows the delivered body is canonical.
 *
 * Besides an endpoint pointing straight at each snippet, a second one reaches
 * it through a recording relay (support/tap.ts), so the very request the
 * snippet accepted is also checked with standardwebhooks and svix.
 */

import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AcceptedEvent, call, newSecret, type Webhook } from "./support/api";
import { type ReceivedRequest, Receiver } from "./support/receiver";
import { canonicalDelivery, hexHmac, rawEventText } from "./support/seed-events";
import { type SeedReceiver, type SeedReceiverName, startSeedReceiver } from "./support/seed-receivers";
import { Tap } from "./support/tap";
import {
	createTenant,
	createTenantApiKey,
	deleteTenant,
	getTenant,
	type Tenant,
	TenantClient,
	type TenantSettings,
} from "./support/tenants";
import { done, notYet, type Poll, waitFor } from "./support/wait";

/** Settling a delivery takes one attempt here; this only bounds a stuck one. */
const SETTLE_MS = 20_000;

function standardHeaders(request: ReceivedRequest): Record<string, string> {
	return {
		"webhook-id": request.headers["webhook-id"] ?? "",
		"webhook-timestamp": request.headers["webhook-timestamp"] ?? "",
		"webhook-signature": request.headers["webhook-signature"] ?? "",
	};
}

/** Creates tenants, and deletes them (with the admin key) when the file is done. */
const tenantIds: string[] = [];
const closers: Array<() => Promise<void>> = [];

afterAll(async () => {
	const deletions = await Promise.all(tenantIds.splice(0).map((id) => deleteTenant(id)));
	await Promise.all(closers.splice(0).map((close) => close().catch(() => undefined)));
	for (const response of deletions) {
		expect(response.status, `${response.method} ${response.path} → ${response.status} ${response.text}`).toBe(202);
	}
});

/** A tenant with only `settings`, and a client that acts with its own API key. */
async function tenantWith(name: string, settings: TenantSettings): Promise<{ tenant: Tenant; client: TenantClient }> {
	const tenant = await createTenant(name, settings);
	tenantIds.push(tenant.id);
	expect(tenant.settings).toEqual(settings);
	const apiKey = await createTenantApiKey(tenant.id);
	expect(apiKey.key).toMatch(/^ehk_/);
	return { tenant, client: new TenantClient(apiKey.key) };
}

interface SeedCase {
	title: string;
	settings: TenantSettings & { signature_header: string; signature_prefix: "sha256=" | "" };
	eventType: string;
	receivers: SeedReceiverName[];
	/** Set for a seed whose tenant timeout is checked with a receiver that never answers. */
	checkTimeout?: boolean;
}

const SEEDS: SeedCase[] = [
	{
		title: "000 KhaleejiAPI",
		settings: {
			signature_header: "X-Khaleeji-Signature",
			signature_prefix: "",
			retry_schedule: [60, 300, 1800, 7200],
			timeout_ms: 30_000,
		},
		eventType: "validation.completed",
		receivers: ["000"],
	},
	{
		title: "001 generic /v1/webhooks doc",
		settings: {
			signature_header: "X-Webhook-Signature",
			signature_prefix: "",
			retry_schedule: [30, 300, 1800, 7200],
		},
		eventType: "user.created",
		receivers: ["001-node", "001-python"],
	},
	{
		title: "003 EKDSend",
		settings: {
			signature_header: "X-EKDSend-Signature",
			signature_prefix: "sha256=",
			timeout_ms: 5_000,
			// "up to 5 times with exponential backoff": 30 s, then ×4 each time.
			retry_schedule: [30, 120, 480, 1920, 7680],
		},
		eventType: "email.delivered",
		receivers: ["003"],
		checkTimeout: true,
	},
];

/** One seed receiver with its endpoints: straight at it, through the tap, and with a wrong secret. */
interface Wired {
	name: SeedReceiverName;
	secret: string;
	seed: SeedReceiver;
	tap: Tap;
	direct: Webhook;
	tapped: Webhook;
	wrongSecret: Webhook;
}

interface Sent {
	raw: string;
	event: AcceptedEvent;
}

for (const seedCase of SEEDS) {
	describe(`seed ${seedCase.title}: tenant settings, vendor snippet as receiver`, () => {
		const { settings } = seedCase;
		const headerName = settings.signature_header.toLowerCase();
		let tenant: Tenant;
		let client: TenantClient;
		const wired: Wired[] = [];
		let failing: { receiver: Receiver; webhook: Webhook } | undefined;
		let hanging: { receiver: Receiver; webhook: Webhook } | undefined;
		const sent: Sent[] = [];

		beforeAll(async () => {
			({ tenant, client } = await tenantWith(`e2e seed ${seedCase.title}`, settings));
			const events = [seedCase.eventType];
			await Promise.all(
				seedCase.receivers.map(async (name) => {
					// As Edgehook makes them: whsec_ + base64 of 32 random bytes. The
					// snippets key their HMAC with this whole string.
					const secret = newSecret();
					const seed = await startSeedReceiver(name, secret);
					closers.push(() => seed.close());
					const tap = await Tap.start(seed.url);
					closers.push(() => tap.close());
					const direct = await client.createWebhook({ url: seed.url, events, secret });
					const tapped = await client.createWebhook({ url: tap.url, events, secret });
					// Negative control: another secret than the receiver's, one attempt only.
					const wrongSecret = await client.createWebhook({
						url: seed.url,
						events,
						secret: newSecret(),
						retry_schedule: [],
					});
					wired.push({ name, secret, seed, tap, direct, tapped, wrongSecret });
				}),
			);
			// A receiver that always fails, with no override: the tenant's schedule decides when it is retried.
			const failingReceiver = await Receiver.start();
			closers.push(() => failingReceiver.close());
			failingReceiver.respondWith(() => ({ status: 503, body: "down" }));
			failing = {
				receiver: failingReceiver,
				webhook: await client.createWebhook({ url: failingReceiver.url, events, secret: newSecret() }),
			};
			if (seedCase.checkTimeout === true) {
				const hangingReceiver = await Receiver.start();
				closers.push(() => hangingReceiver.close());
				hangingReceiver.respondWith(() => ({ hang: true }));
				hanging = {
					receiver: hangingReceiver,
					webhook: await client.createWebhook({ url: hangingReceiver.url, events, secret: newSecret() }),
				};
			}
			for (const seq of [1, 2]) {
				const raw = rawEventText(seedCase.eventType, seq);
				sent.push({ raw, event: await client.sendRawEvent(raw) });
			}
		});

		it("stores the settings on the tenant as given", async () => {
			const stored = await getTenant(tenant.id);
			expect(stored.settings).toEqual(settings);
			expect(stored.settings.retry_schedule).toEqual(settings.retry_schedule);
			expect(stored.settings.timeout_ms).toEqual(settings.timeout_ms);
		});

		it("keeps the tenant key's webhooks inside the tenant", async () => {
			const [first] = wired;
			if (first === undefined) throw new Error("no receiver was wired");
			const path = `/v1/webhooks/${first.direct.id}`;
			expect((await client.call("GET", path)).status).toBe(200);
			// The admin key acts on the default tenant unless X-Tenant-Id names another.
			expect((await call("GET", path)).status).toBe(404);
			expect((await call("GET", path, { headers: { "x-tenant-id": tenant.id } })).status).toBe(200);
		});

		for (const name of seedCase.receivers) {
			describe(`receiver ${name}`, () => {
				function wiring(): Wired {
					const found = wired.find((w) => w.name === name);
					if (found === undefined) throw new Error(`receiver ${name} was not wired`);
					return found;
				}

				it("accepts every delivery: the vendor's snippet verified the signature (success, 200)", async () => {
					const { direct, tapped } = wiring();
					for (const { event } of sent) {
						for (const webhook of [direct, tapped]) {
							const summary = await client.waitForSettled(webhook.id, event.id, SETTLE_MS);
							expect(summary, `delivery ${summary.id} to ${webhook.url}`).toMatchObject({
								status: "success",
								status_code: 200,
								attempts: 1,
								event_type: seedCase.eventType,
							});
							const detail = await client.getDelivery(summary.id);
							expect(detail.status).toBe("success");
							expect(detail.status_code).toBe(200);
							expect(detail.attempts.map((a) => a.status_code)).toEqual([200]);
						}
					}
				});

				it("sent the canonical body and the tenant's header, which also verify with standardwebhooks and svix", async () => {
					const { secret, tap } = wiring();
					for (const { raw, event } of sent) {
						const request = await tap.waitForEvent(event.id, SETTLE_MS);
						expect(request.upstreamStatus, request.upstreamBody).toBe(200);
						// Canonical: JSON.stringify of the envelope, which is not what was sent.
						expect(request.body).toBe(canonicalDelivery(event, raw));
						expect(request.body).toBe(JSON.stringify(JSON.parse(request.body)));
						// The number sent as 1e3 is 1000 now; the random event id may hold "1e3" by chance, so it is left out.
						expect(request.body.replace(event.id, "")).not.toContain("1e3");
						expect(request.body).toContain('"count":1000,"delta":-0.005');
						expect(request.body).toContain("Zoë Ñandú 🚀");

						const { headers } = request;
						expect(headers["content-type"]).toMatch(/^application\/json\b/);
						expect(headers["user-agent"]).toMatch(/^Edgehook\/\S+$/);
						expect(headers["webhook-id"]).toBe(event.id);
						expect(headers["x-webhook-id"]).toBe(event.id);
						expect(headers["x-webhook-timestamp"]).toBe(headers["webhook-timestamp"]);
						expect(headers[headerName]).toBe(`${settings.signature_prefix}${hexHmac(secret, request.rawBody)}`);
						if (headerName !== "x-webhook-signature") {
							// The tenant's header replaces the default one.
							expect(headers["x-webhook-signature"]).toBeUndefined();
						}

						const signed = standardHeaders(request);
						expect(signed["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
						expect(new StandardWebhook(secret).verify(request.body, signed)).toEqual(JSON.parse(request.body));
						expect(new SvixWebhook(secret).verify(request.body, signed)).toEqual(JSON.parse(request.body));
						expect(() => new StandardWebhook(newSecret()).verify(request.body, signed)).toThrow();
					}
				});

				it("negative control: an endpoint with another secret fails on its single attempt", async () => {
					const { wrongSecret } = wiring();
					for (const { event } of sent) {
						const summary = await client.waitForSettled(wrongSecret.id, event.id, SETTLE_MS);
						expect(summary.status, JSON.stringify(summary)).toBe("failed");
						expect(summary.attempts).toBe(1);
						expect([401, 500]).toContain(summary.status_code);
						const detail = await client.getDelivery(summary.id);
						expect(detail.attempts).toHaveLength(1);
						expect([401, 500]).toContain(detail.attempts[0]?.status_code);
					}
				});
			});
		}

		it("schedules the retry of a failed attempt by the tenant's retry_schedule", async () => {
			const schedule = settings.retry_schedule;
			if (schedule === undefined || failing === undefined) throw new Error("no schedule to check");
			const [firstDelay] = schedule;
			if (firstDelay === undefined) throw new Error("empty schedule");
			const { event } = sent[0] ?? {};
			if (event === undefined) throw new Error("no event was sent");
			const summary = await client.waitForDelivery(
				failing.webhook.id,
				event.id,
				(d) => d.attempts >= 1 && d.next_attempt_at !== null,
				"attempted once and scheduled again",
				SETTLE_MS,
			);
			expect(summary.status).toBe("pending");
			expect(summary.status_code).toBe(503);
			const detail = await client.getDelivery(summary.id);
			const [attempt] = detail.attempts;
			if (attempt === undefined || summary.next_attempt_at === null) throw new Error("no attempt recorded");
			// The deployment's own schedule is 1 s; the tenant's first delay is far longer.
			const delayMs = Date.parse(summary.next_attempt_at) - Date.parse(attempt.started_at);
			expect(delayMs).toBeGreaterThanOrEqual(firstDelay * 1000);
			expect(delayMs).toBeLessThan(firstDelay * 1000 + 10_000);
		});

		if (seedCase.checkTimeout === true) {
			it("gives up on a receiver that never answers after the tenant's timeout_ms", async () => {
				const timeoutMs = settings.timeout_ms;
				const { event } = sent[0] ?? {};
				if (timeoutMs === undefined || hanging === undefined || event === undefined) {
					throw new Error("nothing to check");
				}
				const summary = await client.waitForDelivery(
					hanging.webhook.id,
					event.id,
					(d) => d.attempts >= 1,
					"attempted once",
					timeoutMs + SETTLE_MS,
				);
				const detail = await client.getDelivery(summary.id);
				const [attempt] = detail.attempts;
				expect(attempt?.status_code ?? null).toBeNull();
				expect(attempt?.error ?? "").toMatch(/timeout/i);
				// The deployment default here is 3000 ms: the tenant's 5000 ms must win.
				expect(attempt?.duration_ms ?? 0).toBeGreaterThanOrEqual(timeoutMs - 100);
				expect(attempt?.duration_ms ?? 0).toBeLessThan(timeoutMs + 3_000);
			});
		}
	});
}

describe("seed 002 KYC: tenant settings, documented headers", () => {
	const settings: TenantSettings = {
		signature_header: "X-Webhook-Signature",
		signature_prefix: "sha256=",
		user_agent: "KYC-Webhooks/1.0",
	};
	const eventType = "kyc.session.processed";
	const secret = newSecret();
	let tenant: Tenant;
	let client: TenantClient;
	let receiver: Receiver;
	let webhook: Webhook;
	const sent: Sent[] = [];

	beforeAll(async () => {
		({ tenant, client } = await tenantWith("e2e seed 002 KYC", settings));
		receiver = await Receiver.start();
		closers.push(() => receiver.close());
		webhook = await client.createWebhook({ url: receiver.url, events: [eventType], secret });
		for (const seq of [1, 2]) {
			const raw = rawEventText(eventType, seq);
			sent.push({ raw, event: await client.sendRawEvent(raw) });
		}
	});

	it("stores the settings on the tenant as given", async () => {
		expect((await getTenant(tenant.id)).settings).toEqual(settings);
	});

	it("delivers with success and status 200", async () => {
		for (const { event } of sent) {
			const summary = await client.waitForSettled(webhook.id, event.id, SETTLE_MS);
			expect(summary).toMatchObject({ status: "success", status_code: 200, attempts: 1 });
			const detail = await client.getDelivery(summary.id);
			expect(detail.attempts.map((a) => a.status_code)).toEqual([200]);
		}
	});

	it("sends the headers the KYC doc lists, with a sha256= HMAC of the raw body keyed by the secret string", async () => {
		for (const { raw, event } of sent) {
			const got = await waitFor(
				`a request for ${event.id} at ${receiver.url}`,
				(): Poll<ReceivedRequest> => {
					const [first] = receiver.requestsFor(event.id);
					return first === undefined ? notYet(`${receiver.requests.length} request(s) in all`) : done(first);
				},
				{ timeoutMs: SETTLE_MS, intervalMs: 50 },
			);
			const { headers } = got;
			expect(got.body).toBe(canonicalDelivery(event, raw));
			expect(headers["x-webhook-id"]).toBe(event.id);
			expect(headers["x-webhook-id"]).toMatch(/^evt_/);
			expect(headers["x-webhook-timestamp"]).toMatch(/^\d+$/);
			expect(Math.abs(Number(headers["x-webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(120);
			expect(headers["x-webhook-signature"]).toBe(`sha256=${hexHmac(secret, got.rawBody)}`);
			expect(headers["user-agent"]).toBe("KYC-Webhooks/1.0");
			expect(headers["content-type"]).toBe("application/json");
			// Controls: another secret, or a body changed by one byte, gives another signature.
			expect(headers["x-webhook-signature"]).not.toBe(`sha256=${hexHmac(newSecret(), got.rawBody)}`);
			expect(headers["x-webhook-signature"]).not.toBe(`sha256=${hexHmac(secret, `${got.body} `)}`);

			const signed = standardHeaders(got);
			expect(new StandardWebhook(secret).verify(got.body, signed)).toEqual(JSON.parse(got.body));
			expect(() => new StandardWebhook(newSecret()).verify(got.body, signed)).toThrow();
		}
	});
});
