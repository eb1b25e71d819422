import { defineConfig } from "vitest/config";

/**
 * End-to-end suite: plain Node vitest (not the workers pool) against the real
 * worker under `wrangler dev`, started once by test/e2e/global-setup.ts, with
 * real HTTP receivers on 127.0.0.1.
 */
export default defineConfig({
	test: {
		name: "e2e",
		include: ["test/e2e/**/*.e2e.test.ts"],
		globalSetup: ["test/e2e/global-setup.ts"],
		environment: "node",
		// One worker process, one file at a time: the files share one server and
		// one database, and the bad-input test asserts that no event or webhook
		// appeared while it ran.
		fileParallelism: false,
		testTimeout: 60_000,
		hookTimeout: 60_000,
		teardownTimeout: 20_000,
		retry: 0,
	},
});
