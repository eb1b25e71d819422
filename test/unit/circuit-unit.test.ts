import { describe, expect, it } from "vitest";
import {
	afterFailure,
	afterSuccess,
	type CircuitPolicy,
	circuitPolicy,
	closedCircuit,
	FIRST_PROBE_INTERVAL_MS,
	gate,
	MAX_PROBE_INTERVAL_MS,
	PROBE_STALE_MS,
	withStaleProbeExpired,
} from "../../src/scheduler/circuit";

const POLICY: CircuitPolicy = { failureThreshold: 3, autoDisableAfterMs: 3_600_000 };
const T0 = 1_800_000_000_000;
const FAILURE = { statusCode: 500, error: "HTTP 500" };

function failTimes(times: number, from = closedCircuit(T0)) {
	let circuit = from;
	const transitions = [];
	for (let i = 0; i < times; i++) {
		const verdict = afterFailure(circuit, T0 + i, FAILURE, POLICY);
		circuit = verdict.circuit;
		transitions.push(verdict.transition);
	}
	return { circuit, transitions };
}

describe("circuit breaker", () => {
	it("opens after the threshold of failures in a row, once", () => {
		const { circuit, transitions } = failTimes(4);
		expect(transitions).toEqual([null, null, "opened", null]);
		expect(circuit).toMatchObject({ state: "open", failuresInRow: 4, failingSince: T0, lastStatusCode: 500 });
		expect(circuit.nextProbeAt).toBe(T0 + 2 + FIRST_PROBE_INTERVAL_MS);
	});

	it("lets deliveries through while closed, holds them while open, and allows one probe once due", () => {
		expect(gate(closedCircuit(T0), T0)).toBe("send");
		const { circuit } = failTimes(3);
		const probeAt = circuit.nextProbeAt ?? 0;
		expect(gate(circuit, probeAt - 1)).toEqual({ waitUntil: probeAt });
		expect(gate(circuit, probeAt)).toBe("probe");
		const halfOpen = { ...circuit, state: "half_open" as const, since: probeAt };
		expect(gate(halfOpen, probeAt + 1)).toEqual({ waitUntil: probeAt + PROBE_STALE_MS });
	});

	it("reopens on a failed probe with twice the interval, up to ten minutes", () => {
		let { circuit } = failTimes(3);
		const intervals: number[] = [];
		for (let i = 0; i < 8; i++) {
			circuit = afterFailure({ ...circuit, state: "half_open" }, T0, FAILURE, POLICY).circuit;
			intervals.push(circuit.probeIntervalMs);
		}
		expect(intervals).toEqual([60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000, 600_000]);
		expect(MAX_PROBE_INTERVAL_MS).toBe(600_000);
		expect(circuit.state).toBe("open");
	});

	it("closes on a success, reporting a recovery only when it was not closed", () => {
		const { circuit } = failTimes(3);
		const recovered = afterSuccess({ ...circuit, state: "half_open" }, T0 + 10, 200);
		expect(recovered.transition).toBe("recovered");
		expect(recovered.circuit).toMatchObject({
			state: "closed",
			failuresInRow: 0,
			failingSince: null,
			nextProbeAt: null,
		});
		const quiet = afterSuccess(failTimes(2).circuit, T0 + 10, 204);
		expect(quiet.transition).toBeNull();
		expect(quiet.circuit.failuresInRow).toBe(0);
	});

	it("asks to disable an endpoint that has failed without a success for too long", () => {
		const long = { ...failTimes(1).circuit, failingSince: T0 - POLICY.autoDisableAfterMs };
		expect(afterFailure(long, T0, FAILURE, POLICY).disable).toBe(true);
		expect(afterFailure(failTimes(1).circuit, T0 + 1, FAILURE, POLICY).disable).toBe(false);
	});

	it("treats a probe that never reported back as failed after a while", () => {
		const halfOpen = { ...failTimes(3).circuit, state: "half_open" as const, since: T0 };
		expect(withStaleProbeExpired(halfOpen, T0 + PROBE_STALE_MS - 1).state).toBe("half_open");
		expect(withStaleProbeExpired(halfOpen, T0 + PROBE_STALE_MS)).toMatchObject({
			state: "open",
			nextProbeAt: T0 + PROBE_STALE_MS,
		});
	});

	it("reads its policy from the vars, with defaults for unusable values", () => {
		expect(circuitPolicy({})).toEqual({ failureThreshold: 5, autoDisableAfterMs: 5 * 24 * 3600 * 1000 });
		expect(circuitPolicy({ CIRCUIT_FAILURE_THRESHOLD: "2", AUTO_DISABLE_AFTER_SECONDS: "60" })).toEqual({
			failureThreshold: 2,
			autoDisableAfterMs: 60_000,
		});
		expect(circuitPolicy({ CIRCUIT_FAILURE_THRESHOLD: "0", AUTO_DISABLE_AFTER_SECONDS: "soon" }).failureThreshold).toBe(
			5,
		);
	});
});
