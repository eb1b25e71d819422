import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Constants of the worker that the bench's targets and expectations depend
 * on. They are read from the source the worker was started from (the
 * snapshot), not imported: those modules are written for workerd and do not
 * type-check under the bench's Node configuration. A value that cannot be
 * found falls back to the one the bench was written against, and says so.
 */
export interface WorkerConstants {
	/** src/queue/attempt.ts: an attempt this slow (or a timeout) moves its endpoint to the slow lane. */
	slow_attempt_ms: number;
	/** src/scheduler/circuit.ts: the first probe after the circuit opens, then doubling … */
	first_probe_interval_ms: number;
	/** … up to this. */
	max_probe_interval_ms: number;
	/** wrangler.toml CIRCUIT_FAILURE_THRESHOLD: failed attempts in a row that open an endpoint's circuit. */
	circuit_failure_threshold: number;
	/** src/auth/authenticate.ts: how long an isolate trusts a tenant key's lookup in the control database. */
	key_cache_seconds: number;
	/** src/db/tenant-database.ts: how long an isolate trusts a tenant's placement (its shard). */
	placement_cache_seconds: number;
	/** Names of the values that were not found and fell back to the default. */
	fallbacks: string[];
}

const DEFAULTS = {
	slow_attempt_ms: 1000,
	first_probe_interval_ms: 30_000,
	max_probe_interval_ms: 10 * 60_000,
	circuit_failure_threshold: 5,
	key_cache_seconds: 30,
	placement_cache_seconds: 30,
} as const;

function readText(path: string): string {
	try {
		return readFileSync(path, "utf8");
	} catch {
		return "";
	}
}

/** Evaluates a constant's initializer when it is a plain product of numbers (`10 * 60_000`). */
function numericConstant(source: string, name: string): number | null {
	const match = new RegExp(`export const ${name}\\s*=\\s*([0-9_\\s*]+);`).exec(source);
	if (match?.[1] === undefined) return null;
	const factors = match[1].split("*").map((part) => Number(part.replaceAll("_", "").trim()));
	if (factors.length === 0 || factors.some((factor) => !Number.isFinite(factor))) return null;
	return factors.reduce((product, factor) => product * factor, 1);
}

export function workerConstants(appDir: string): WorkerConstants {
	const attempt = readText(join(appDir, "src", "queue", "attempt.ts"));
	const circuit = readText(join(appDir, "src", "scheduler", "circuit.ts"));
	const toml = readText(join(appDir, "wrangler.toml"));
	const authenticate = readText(join(appDir, "src", "auth", "authenticate.ts"));
	const tenantDatabase = readText(join(appDir, "src", "db", "tenant-database.ts"));
	const fallbacks: string[] = [];
	const pick = (name: keyof typeof DEFAULTS, value: number | null): number => {
		if (value !== null && value > 0) return value;
		fallbacks.push(name);
		return DEFAULTS[name];
	};
	const threshold = /^\s*CIRCUIT_FAILURE_THRESHOLD\s*=\s*"(\d+)"/m.exec(toml)?.[1];
	const defaultThreshold = numericConstant(circuit, "DEFAULT_FAILURE_THRESHOLD");
	return {
		slow_attempt_ms: pick("slow_attempt_ms", numericConstant(attempt, "SLOW_ATTEMPT_MS")),
		first_probe_interval_ms: pick("first_probe_interval_ms", numericConstant(circuit, "FIRST_PROBE_INTERVAL_MS")),
		max_probe_interval_ms: pick("max_probe_interval_ms", numericConstant(circuit, "MAX_PROBE_INTERVAL_MS")),
		circuit_failure_threshold: pick(
			"circuit_failure_threshold",
			threshold === undefined ? defaultThreshold : Number(threshold),
		),
		key_cache_seconds: pick("key_cache_seconds", numericConstant(authenticate, "KEY_CACHE_SECONDS")),
		placement_cache_seconds: pick(
			"placement_cache_seconds",
			numericConstant(tenantDatabase, "PLACEMENT_CACHE_SECONDS"),
		),
		fallbacks,
	};
}
