import type { D1Migration } from "cloudflare:test";

declare global {
	namespace Cloudflare {
		interface Env {
			TEST_MIGRATIONS: D1Migration[];
			TEST_INGEST_LIMIT: string;
			TEST_MANAGEMENT_LIMIT: string;
			TEST_AUTH_FAILURE_LIMIT: string;
		}
	}
}
