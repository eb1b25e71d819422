import type { CostResult } from "../scenarios/cost";
import type { DeadEndpointResult } from "../scenarios/dead-endpoint";
import type { E2eResult } from "../scenarios/e2e";
import type { FanoutLevel } from "../scenarios/fanout";
import type { FloorResult } from "../scenarios/floor";
import type { IngestResult } from "../scenarios/ingest";
import type { IsolationResult } from "../scenarios/isolation";
import type { OrderedResult } from "../scenarios/ordered";
import type { RetryResult } from "../scenarios/retry";
import type { RetryVolumeResult } from "../scenarios/retry-volume";
import type { ShardsResult } from "../scenarios/shards";
import type { describeMachine } from "./machine";
import type { TargetCheck } from "./targets";

/** What bench/results/latest.json holds. */
export interface BenchResults {
	schema_version: 2;
	started_at: string;
	finished_at: string;
	duration_s: number;
	complete: boolean;
	machine: ReturnType<typeof describeMachine>;
	worker: {
		command: string;
		vars: Record<string, string>;
		commit: string;
		uncommitted_changes: boolean | null;
		/** The D1 bindings of the worker's config; absent in results from before the bench ran with shards. */
		d1_databases?: string[];
	};
	config: Record<string, unknown>;
	ingest: IngestResult | null;
	e2e: E2eResult | null;
	fanout: FanoutLevel[];
	isolation: IsolationResult | null;
	retry: RetryResult | null;
	ordered: OrderedResult | null;
	cost: CostResult | null;
	dead_endpoint: DeadEndpointResult | null;
	shards: ShardsResult | null;
	/** Absent in results from before the scenario existed. */
	retry_volume?: RetryVolumeResult | null;
	/** The floor fixture's ratios, which bound ingest's on the machine; absent before the scenario existed. */
	floor?: FloorResult | null;
	/** CPU used by other processes on the machine while the bench ran (cores): the noise in these figures. */
	other_processes_cpu: {
		mean_cores: number | null;
		max_cores: number | null;
		samples: number;
		per_scenario: Record<string, number | null>;
	};
	targets: TargetCheck[];
	errors: { scenario: string; message: string }[];
}
