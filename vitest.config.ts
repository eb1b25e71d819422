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

export default defineConfig({
	plugins: [
		cloudflareTest(async () => ({
			wrangler: { configPath: "./wrangler.toml" },
			miniflare: {
				bindings: {
					ENVIRONMENT: "development",
					ADMIN_API_KEY: "test-admin-key",
					RETRY_SCHEDULE: "60,300,1800,7200",
					TEST_MIGRATIONS: await readD1Migrations("./migrations"),
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
