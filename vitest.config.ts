import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * Unit and integration tests run inside workerd with the real local D1,
 * Queues and Durable Objects of wrangler.toml. The end-to-end suite has its
 * own config (vitest.e2e.config.ts) because it drives `wrangler dev` from Node.
 */
// wrangler.toml lists ADMIN_API_KEY as a required secret; the tests bind their
// own below, and setting it here stops wrangler warning once per test file.
process.env.ADMIN_API_KEY ??= "test-admin-key";

/** Requests per tenant key per 10 s in the tests; test/integration/tenants-integration.test.ts reads them. */
const TEST_INGEST_LIMIT = 20;
const TEST_MANAGEMENT_LIMIT = 120;
/** Failed authentications per client address per 60 s; test/integration/security-integration.test.ts reaches it. */
const TEST_AUTH_FAILURE_LIMIT = 40;

export default defineConfig({
	plugins: [
		cloudflareTest(async () => ({
			wrangler: { configPath: "./wrangler.toml" },
			miniflare: {
				bindings: {
					ENVIRONMENT: "development",
					ADMIN_API_KEY: "test-admin-key",
					RETRY_SCHEDULE: "60,300,1800,7200",
					// The portal tests check that this site, and only it, may frame the portal.
					PORTAL_FRAME_ANCESTORS: "https://app.example.com",
					EMAIL_FROM: "Edgehook <edgehook@example.com>",
					TEST_INGEST_LIMIT: String(TEST_INGEST_LIMIT),
					TEST_MANAGEMENT_LIMIT: String(TEST_MANAGEMENT_LIMIT),
					TEST_AUTH_FAILURE_LIMIT: String(TEST_AUTH_FAILURE_LIMIT),
					TEST_MIGRATIONS: await readD1Migrations("./migrations"),
				},
				// Three shards, as a deployment that grew: DB (also the control database) and two more.
				d1Databases: {
					DB: "00000000-0000-0000-0000-000000000000",
					SHARD_2: "edgehook-test-shard-2",
					SHARD_3: "edgehook-test-shard-3",
				},
				// A second sender that only reaches one address, so a test can see the platform refuse the others.
				email: {
					send_email: [
						{ name: "EMAIL" },
						{ name: "RESTRICTED_EMAIL", allowed_destination_addresses: ["ok@example.com"] },
					],
				},
				// Low limits, so the rate-limit tests reach them in a few dozen requests with a
				// fresh key; other tests act with the admin key, which is not limited.
				ratelimits: {
					INGEST_RATE_LIMITER: { namespace_id: "1001", simple: { limit: TEST_INGEST_LIMIT, period: 10 } },
					MANAGEMENT_RATE_LIMITER: { namespace_id: "1002", simple: { limit: TEST_MANAGEMENT_LIMIT, period: 10 } },
					AUTH_FAILURE_RATE_LIMITER: { namespace_id: "1003", simple: { limit: TEST_AUTH_FAILURE_LIMIT, period: 60 } },
				},
			},
		})),
	],
	test: {
		include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
		setupFiles: ["./test/apply-migrations.ts"],
		globalSetup: ["./test/receiver-setup.ts"],
	},
});
