import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Runs before each test file; applying is idempotent, so files share nothing but the schema.
// Every database gets the one schema, as `npm start` and deployments apply it.
for (const database of [env.DB, env.SHARD_2, env.SHARD_3]) await applyD1Migrations(database, env.TEST_MIGRATIONS);
