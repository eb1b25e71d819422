import type { D1Migration } from "cloudflare:test";

declare global {
	namespace Cloudflare {
		interface Env {
			TEST_MIGRATIONS: D1Migration[];
			/** The tests run with three shards: DB and these two (vitest.config.ts). */
			SHARD_2: D1Database;
			SHARD_3: D1Database;
			TEST_INGEST_LIMIT: string;
			TEST_MANAGEMENT_LIMIT: string;
			TEST_AUTH_FAILURE_LIMIT: string;
		}
	}
}
