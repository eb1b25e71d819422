import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY_SCHEDULE } from "../../src/delivery/retry-policy";
import {
	DEFAULT_TIMEOUT_MS,
	type DeploymentDefaults,
	deploymentDefaults,
	effectiveDeliveryPolicy,
	MAX_TIMEOUT_MS,
	parseTenantSettings,
} from "../../src/delivery/settings";

describe("deploymentDefaults", () => {
	it("uses the built-in schedule and a 30 s timeout when no vars are set", () => {
		expect(DEFAULT_TIMEOUT_MS).toBe(30_000);
		expect(deploymentDefaults({})).toEqual({
			retrySchedule: DEFAULT_RETRY_SCHEDULE,
			timeoutMs: 30_000,
			environment: "production",
		});
	});

	it("reads RETRY_SCHEDULE, an empty one meaning no retries", () => {
		expect(deploymentDefaults({ RETRY_SCHEDULE: "1,2,3" }).retrySchedule).toEqual([1, 2, 3]);
		expect(deploymentDefaults({ RETRY_SCHEDULE: "" }).retrySchedule).toEqual([]);
	});

	it("falls back to the built-in schedule when RETRY_SCHEDULE is malformed", () => {
		expect(deploymentDefaults({ RETRY_SCHEDULE: "soon" }).retrySchedule).toEqual(DEFAULT_RETRY_SCHEDULE);
		expect(deploymentDefaults({ RETRY_SCHEDULE: "60,-1" }).retrySchedule).toEqual(DEFAULT_RETRY_SCHEDULE);
	});

	it("reads DELIVERY_TIMEOUT_MS within (0, MAX_TIMEOUT_MS]", () => {
		expect(deploymentDefaults({ DELIVERY_TIMEOUT_MS: "5000" }).timeoutMs).toBe(5000);
		expect(deploymentDefaults({ DELIVERY_TIMEOUT_MS: String(MAX_TIMEOUT_MS) }).timeoutMs).toBe(MAX_TIMEOUT_MS);
	});

	it("falls back to the default timeout when DELIVERY_TIMEOUT_MS is unusable", () => {
		for (const value of ["", "0", "-1", "abc", "1.5", String(MAX_TIMEOUT_MS + 1)]) {
			expect(deploymentDefaults({ DELIVERY_TIMEOUT_MS: value }).timeoutMs, value).toBe(DEFAULT_TIMEOUT_MS);
		}
	});
});

describe("effectiveDeliveryPolicy", () => {
	const deployment: DeploymentDefaults = { retrySchedule: [60, 300], timeoutMs: 30_000, environment: "production" };

	it("takes the endpoint's values over the tenant's and the deployment's", () => {
		const policy = effectiveDeliveryPolicy(
			deployment,
			{ retry_schedule: [5, 10], timeout_ms: 10_000 },
			{ retrySchedule: [1], timeoutMs: 2_000 },
		);
		expect(policy).toEqual({ retrySchedule: [1], timeoutMs: 2_000 });
	});

	it("takes the tenant's values when the endpoint has none", () => {
		const policy = effectiveDeliveryPolicy(
			deployment,
			{ retry_schedule: [5, 10], timeout_ms: 10_000 },
			{ retrySchedule: null, timeoutMs: null },
		);
		expect(policy).toEqual({ retrySchedule: [5, 10], timeoutMs: 10_000 });
	});

	it("takes the deployment's values when neither endpoint nor tenant sets them", () => {
		expect(effectiveDeliveryPolicy(deployment, {}, { retrySchedule: null, timeoutMs: null })).toEqual({
			retrySchedule: deployment.retrySchedule,
			timeoutMs: deployment.timeoutMs,
		});
	});

	it("resolves each field on its own", () => {
		expect(effectiveDeliveryPolicy(deployment, { timeout_ms: 7_000 }, { retrySchedule: [9], timeoutMs: null })).toEqual(
			{ retrySchedule: [9], timeoutMs: 7_000 },
		);
		expect(
			effectiveDeliveryPolicy(deployment, { retry_schedule: [8] }, { retrySchedule: null, timeoutMs: 1_000 }),
		).toEqual({ retrySchedule: [8], timeoutMs: 1_000 });
	});

	it("treats an empty schedule as a setting (no retries), not as unset", () => {
		expect(
			effectiveDeliveryPolicy(deployment, { retry_schedule: [] }, { retrySchedule: null, timeoutMs: null })
				.retrySchedule,
		).toEqual([]);
		expect(
			effectiveDeliveryPolicy(deployment, { retry_schedule: [5] }, { retrySchedule: [], timeoutMs: null })
				.retrySchedule,
		).toEqual([]);
	});
});

describe("parseTenantSettings", () => {
	it("returns the stored object and an empty one for non-objects", () => {
		expect(parseTenantSettings('{"user_agent":"Acme/1","signature_prefix":""}')).toEqual({
			user_agent: "Acme/1",
			signature_prefix: "",
		});
		expect(parseTenantSettings("null")).toEqual({});
		expect(parseTenantSettings("5")).toEqual({});
	});
});
