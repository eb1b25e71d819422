import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { CHANNELS, TEMPLATED_CHANNELS } from "../channels/targets";

/*
 * Every table carries tenant_id and every query filters on it.
 *
 * The hot path is priced in D1 rows written (each index entry counts as a
 * row), so indexes exist only where a query needs them:
 * - events: the row alone for an event sent without id or Idempotency-Key
 *   (ids Edgehook generates are found by seq, src/db/events.ts; a given id
 *   and a key each have a partial index), and a row of event_blocks when
 *   the event is its tenant's first in a block of 1,024 seqs: a tenant's
 *   events in order are found through those (src/db/event-blocks.ts), not
 *   an index entry per event.
 * - deliveries: one row and no secondary index. A delivery id embeds its
 *   endpoint's key and its event's sequence number, so the endpoint's log is
 *   a primary-key range scan and the event's deliveries are point lookups.
 *   Attempts live in the row as a JSON array, so an attempt is one row write.
 * - delivery_packs: the outcomes of attempts that a consumer records
 *   together (successes, failures and retries alike) share a row, so most
 *   deliveries never get a row of their own; its partial index
 *   delivery_packs_pending_due has one entry per pack that holds a retry.
 *
 * - api_keys: written only when a key is created, revoked or (at most once
 *   an hour) marked used; its hash index is what every request's auth reads.
 * - deliveries_pending_due: partial, on pending rows only (held, resent or
 *   swept deliveries: packed ones are found through their packs' index). It
 *   lets the sweeper find retries left pending past their due time without
 *   scanning the log.
 * - tasks, sweep_cursors: written a few times per background task or sweep.
 * - revoked_sessions: one row per dashboard sign-out, removed by the daily
 *   retention once the session would have expired anyway.
 *
 * Tables keyed by text are WITHOUT ROWID (added to the generated migration by
 * hand, drizzle-kit cannot express it): a rowid table would keep a second,
 * hidden index for the text key and pay a second row write on every insert.
 */

export const tenants = sqliteTable("tenants", {
	id: text("id").primaryKey(),
	name: text("name").notNull(),
	/** JSON of TenantSettings; empty object means every default. */
	settings: text("settings").notNull().default("{}"),
	createdAt: integer("created_at").notNull(),
	updatedAt: integer("updated_at").notNull().default(0),
	/**
	 * Set when the tenant is deleted: from then on it answers 404 and sends
	 * nothing, while its rows are removed in bounded slices (src/tenants/purge.ts)
	 * and the tenant row itself goes last.
	 */
	deletedAt: integer("deleted_at"),
	/**
	 * The binding of the D1 database that holds the tenant's data (src/db/tenant-database.ts),
	 * chosen when the tenant is created and never changed silently. The control database's
	 * row is the placement; the shard keeps a copy of the row for its own reads.
	 */
	shard: text("shard").notNull().default("DB"),
	/**
	 * The caller's own name for the tenant (a Svix application's `uid`),
	 * usable in paths in place of the id. Unique among live tenants, which
	 * `tenant_uids` in the control database enforces.
	 */
	uid: text("uid"),
	/** JSON object of strings, the caller's own, returned as given. */
	metadata: text("metadata").notNull().default("{}"),
});

/**
 * Claims on tenant uids, written only in the control database: its primary
 * key is what keeps a uid unique, without an index on the tenants table
 * whose copies on the shards could lag behind a deletion.
 */
export const tenantUids = sqliteTable("tenant_uids", {
	uid: text("uid").primaryKey(),
	tenantId: text("tenant_id").notNull(),
});

export const apiKeys = sqliteTable(
	"api_keys",
	{
		tenantId: text("tenant_id").notNull(),
		id: text("id").notNull(),
		name: text("name").notNull(),
		/** The first characters of the key, enough for a person to tell keys apart. */
		prefix: text("prefix").notNull(),
		/** Hex SHA-256 of the whole key; the key itself is never stored. */
		hash: text("hash").notNull(),
		createdAt: integer("created_at").notNull(),
		lastUsedAt: integer("last_used_at"),
	},
	(table) => [primaryKey({ columns: [table.tenantId, table.id] }), uniqueIndex("api_keys_hash_unique").on(table.hash)],
);

export const endpoints = sqliteTable(
	"endpoints",
	{
		tenantId: text("tenant_id").notNull(),
		id: text("id").notNull(),
		url: text("url").notNull(),
		description: text("description").notNull().default(""),
		/** JSON array of exact types, prefix wildcards (`user.*`) or `*`. */
		events: text("events").notNull(),
		secret: text("secret").notNull(),
		/**
		 * JSON array of {secret, expires_at} replaced by rotation and still
		 * signing until their grace period ends, newest first.
		 */
		previousSecrets: text("previous_secrets").notNull().default("[]"),
		active: integer("active", { mode: "boolean" }).notNull().default(true),
		/** JSON object of static headers sent with every delivery. */
		headers: text("headers").notNull().default("{}"),
		metadata: text("metadata").notNull().default("{}"),
		/** JSON array of seconds, or null to inherit the tenant's or deployment's. */
		retrySchedule: text("retry_schedule"),
		timeoutMs: integer("timeout_ms"),
		disabledReason: text("disabled_reason"),
		/**
		 * Until when (ms) the endpoint's deliveries go through the slow lane, a
		 * queue of their own, so a hanging receiver cannot stall everyone else.
		 */
		slowUntil: integer("slow_until"),
		/** At most this many deliveries per second; null for no limit. */
		rateLimitPerSecond: integer("rate_limit_per_second"),
		/** At most this many attempts in flight to the endpoint at once; null for DEFAULT_MAX_CONCURRENCY. */
		maxConcurrency: integer("max_concurrency"),
		ordering: text("ordering", { enum: ["unordered", "ordered"] })
			.notNull()
			.default("unordered"),
		/**
		 * When the endpoint's current run of failures began, null while it
		 * succeeds. Written only when that changes, it tells the consumer which
		 * endpoints to route through their scheduler (circuit breaker, pace) and
		 * when an endpoint has failed long enough to be disabled.
		 */
		failingSince: integer("failing_since"),
		/** How a delivery reaches the receiver: a signed webhook, a Slack or Discord message, or email. */
		channel: text("channel", { enum: CHANNELS }).notNull().default("webhook"),
		/** JSON array of email addresses for the email channel (whose `url` is empty); null otherwise. */
		recipients: text("recipients"),
		/** A JSONata expression over the envelope whose result is the body sent; null sends the default. */
		transformation: text("transformation"),
		/** The caller's own name for the endpoint (Svix `uid`), unique within the tenant. */
		uid: text("uid"),
		/**
		 * JSON array of routing labels (Svix `channels`), or null to receive
		 * every event of its types. An event that carries labels reaches only
		 * endpoints that list one of them.
		 */
		labels: text("labels"),
		/**
		 * Which signature headers a webhook carries: `webhook-*` (Standard
		 * Webhooks) or `svix-*`, as Svix sends them, for receivers written
		 * against Svix.
		 */
		headerStyle: text("header_style", { enum: ["webhook", "svix"] })
			.notNull()
			.default("webhook"),
		createdAt: integer("created_at").notNull(),
		updatedAt: integer("updated_at").notNull(),
	},
	(table) => [
		primaryKey({ columns: [table.tenantId, table.id] }),
		uniqueIndex("endpoints_uid_unique").on(table.tenantId, table.uid).where(sql`uid IS NOT NULL`),
	],
);

export const events = sqliteTable(
	"events",
	{
		/** Rowid: strictly increasing in commit order, so it is the polling cursor. */
		seq: integer("seq").primaryKey(),
		tenantId: text("tenant_id").notNull(),
		/**
		 * The event's public id. An id the sender gave is unique per tenant through events_given_id; an id
		 * Edgehook generated (src/lib/ids.ts) is not indexed: it leads with the event's created_at, which
		 * follows seq, and is found by bisecting the seqs (src/db/events.ts, findEventsByIds).
		 */
		id: text("id").notNull(),
		/**
		 * Whether the sender gave the id: 1, or 0 for an id Edgehook generated. NULL for the events stored
		 * before migration 0012, which all stay in the index of given ids.
		 */
		idGiven: integer("id_given", { mode: "boolean" }),
		type: text("type").notNull(),
		/** `data` exactly as it will be signed: JSON.stringify of the parsed payload. */
		data: text("data").notNull(),
		idempotencyKey: text("idempotency_key"),
		/** JSON array of the endpoint ids the event was fanned out to at ingest. */
		endpointIds: text("endpoint_ids").notNull(),
		/**
		 * When ingest stored it (ms): the isolate's clock, but never before the newest event already stored
		 * (migration 0012 on), so within a database it does not go back in seq order.
		 */
		createdAt: integer("created_at").notNull(),
		/** JSON array of routing labels (Svix `channels`), or null: see endpoints.labels. */
		labels: text("labels"),
		/** JSON array of tags (Svix `tags`) that the event lists can filter on, or null. */
		tags: text("tags"),
		/** When the first attempts are due (ms), for an event scheduled ahead; null to send now. */
		deliverAt: integer("deliver_at"),
	},
	(table) => [
		// Only ids a sender gave: a generated id costs the event no entry here (a row written, and one deleted).
		uniqueIndex("events_given_id").on(table.tenantId, table.id).where(sql`id_given IS NOT 0`),
		uniqueIndex("events_idempotency_key_unique")
			.on(table.tenantId, table.idempotencyKey)
			.where(sql`idempotency_key IS NOT NULL`),
		// Partial: events sent at once never enter it, so it costs the hot path nothing.
		index("events_scheduled").on(table.deliverAt).where(sql`deliver_at IS NOT NULL`),
	],
);

/**
 * Which blocks of 1,024 seqs hold events of a tenant: a sparse index of
 * events in the tenant's order (src/db/event-blocks.ts). Triggers on events
 * written by hand in migration 0014 (drizzle-kit cannot express them) add a
 * row when an event is stored in, or reused into, a block its tenant had no
 * event in yet, so ingest stays one statement. WITHOUT ROWID.
 */
export const eventBlocks = sqliteTable(
	"event_blocks",
	{
		tenantId: text("tenant_id").notNull(),
		/** seq >> EVENT_BLOCK_SHIFT of the events it stands for. */
		block: integer("block").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenantId, table.block] })],
);

export const deliveries = sqliteTable(
	"deliveries",
	{
		id: text("id").primaryKey(),
		tenantId: text("tenant_id").notNull(),
		endpointId: text("endpoint_id").notNull(),
		eventId: text("event_id").notNull(),
		eventType: text("event_type").notNull(),
		status: text("status", { enum: ["pending", "success", "failed", "skipped"] }).notNull(),
		statusCode: integer("status_code"),
		attemptCount: integer("attempt_count").notNull(),
		/** JSON array of AttemptRecord, oldest first. */
		attempts: text("attempts").notNull(),
		nextAttemptAt: integer("next_attempt_at"),
		deliveredAt: integer("delivered_at"),
		error: text("error"),
		createdAt: integer("created_at").notNull(),
		updatedAt: integer("updated_at").notNull(),
	},
	(table) => [index("deliveries_pending_due").on(table.nextAttemptAt).where(sql`status = 'pending'`)],
);

/**
 * Deliveries many to a row: the outcomes of one endpoint's attempts that a
 * consumer recorded together (src/queue/record.ts), first attempts and
 * scheduled retries, succeeded or failed. A delivery then costs a share of
 * one row written per attempt instead of a row of its own, and retention
 * deletes a share of a row too. A retry's outcome carries the delivery from
 * its old pack into the new one, so a delivery is in one pack at a time. A
 * delivery's row in `deliveries`, when it has one, is its truth: it is
 * written for what cannot be packed (a resend, a hold, a redelivered
 * message's or a swept job's outcome), copied from the pack first, and
 * readers (src/db/delivery-log.ts) take the row over the packed copy.
 */
export const deliveryPacks = sqliteTable(
	"delivery_packs",
	{
		/**
		 * The id of the pack's highest delivery, then `.` and random characters:
		 * an endpoint's packs sort among its delivery ids, and two packs that end
		 * at the same delivery keep both.
		 */
		id: text("id").primaryKey(),
		tenantId: text("tenant_id").notNull(),
		endpointId: text("endpoint_id").notNull(),
		/** The id of the pack's lowest delivery; the two ends are at most PACK_SPAN events apart. */
		lowestId: text("lowest_id").notNull(),
		/**
		 * What retention counts the pack's age from: the latest of its events'
		 * created_at and, for an event scheduled ahead, deliver_at, as it does
		 * for the events themselves.
		 */
		createdAt: integer("created_at").notNull(),
		/** JSON array of deliveries, each an array of the `deliveries` columns in DELIVERY_COLUMNS order. */
		deliveries: text("deliveries").notNull(),
		/**
		 * When the earliest retry of a pending delivery the pack holds (and no
		 * row overrides) is due, null when it holds none: the sweeper's way to a
		 * lost retry, one index entry per pack rather than per delivery.
		 */
		pendingDue: integer("pending_due"),
	},
	(table) => [index("delivery_packs_pending_due").on(table.pendingDue).where(sql`pending_due IS NOT NULL`)],
);

/** Background work someone asked for (recover), with its progress. */
export const tasks = sqliteTable(
	"tasks",
	{
		tenantId: text("tenant_id").notNull(),
		id: text("id").notNull(),
		kind: text("kind", { enum: ["recover"] }).notNull(),
		endpointId: text("endpoint_id").notNull(),
		status: text("status", { enum: ["queued", "running", "completed", "failed"] }).notNull(),
		/** JSON of the task's parameters, such as the recover window. */
		params: text("params").notNull(),
		total: integer("total").notNull(),
		done: integer("done").notNull(),
		/** Where the next slice starts; null before the first. */
		cursor: text("cursor"),
		error: text("error"),
		createdAt: integer("created_at").notNull(),
		updatedAt: integer("updated_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenantId, table.id] })],
);

/** How far each database's sweeper has looked through the events, by name. */
export const sweepCursors = sqliteTable("sweep_cursors", {
	name: text("name").primaryKey(),
	value: integer("value").notNull(),
});

/**
 * Dashboard sessions ended before their cookie expires (sign-out). Session
 * cookies are signed and otherwise stateless, so this list is what makes a
 * copied cookie useless after sign-out; isolates cache it (src/dashboard/session.ts).
 */
export const revokedSessions = sqliteTable("revoked_sessions", {
	sessionId: text("session_id").primaryKey(),
	/** When the cookie would have expired: after that the row has nothing left to refuse. */
	expiresAt: integer("expires_at").notNull(),
});

export const eventTypes = sqliteTable(
	"event_types",
	{
		tenantId: text("tenant_id").notNull(),
		name: text("name").notNull(),
		description: text("description").notNull().default(""),
		/** JSON Schema of the payload, as given; kept for documentation. */
		schema: text("schema"),
		/** JSON object: an example payload, for documentation and test sends; null when none was given. */
		example: text("example"),
		createdAt: integer("created_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenantId, table.name] })],
);

/**
 * A tenant's own layout of one channel's message for one event type (or `*`
 * for every type without its own): a JSONata expression over the envelope.
 */
export const templates = sqliteTable(
	"templates",
	{
		tenantId: text("tenant_id").notNull(),
		channel: text("channel", { enum: TEMPLATED_CHANNELS }).notNull(),
		eventType: text("event_type").notNull(),
		expression: text("expression").notNull(),
		createdAt: integer("created_at").notNull(),
		updatedAt: integer("updated_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.tenantId, table.channel, table.eventType] })],
);

/**
 * The deployment's event type catalog (Svix event types are organisation
 * wide): every tenant sees it beside its own. Kept in the control database.
 */
export const catalogEventTypes = sqliteTable("catalog_event_types", {
	name: text("name").primaryKey(),
	description: text("description").notNull().default(""),
	/** JSON object of JSON Schemas by version (Svix `schemas`), or null. */
	schemas: text("schemas"),
	groupName: text("group_name"),
	/** JSON array of feature flags, or null. */
	featureFlags: text("feature_flags"),
	archived: integer("archived", { mode: "boolean" }).notNull().default(false),
	deprecated: integer("deprecated", { mode: "boolean" }).notNull().default(false),
	createdAt: integer("created_at").notNull(),
	updatedAt: integer("updated_at").notNull(),
});

/**
 * The first answer to a POST sent with an `idempotency-key`, replayed for
 * the same key for 12 hours (as Svix does). `scope` keeps one caller's keys
 * apart from another's. Kept in the control database.
 */
export const idempotencyRecords = sqliteTable(
	"idempotency_records",
	{
		scope: text("scope").notNull(),
		key: text("key").notNull(),
		/** Method and path the key was first used with; another request under the same key is refused. */
		request: text("request").notNull(),
		status: integer("status").notNull(),
		body: text("body").notNull(),
		expiresAt: integer("expires_at").notNull(),
	},
	(table) => [primaryKey({ columns: [table.scope, table.key] })],
);

export type EndpointRow = typeof endpoints.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryPackRow = typeof deliveryPacks.$inferSelect;
export type TenantRow = typeof tenants.$inferSelect;
export type EventTypeRow = typeof eventTypes.$inferSelect;
export type TemplateRow = typeof templates.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type CatalogEventTypeRow = typeof catalogEventTypes.$inferSelect;
