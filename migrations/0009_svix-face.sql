-- The Svix-compatible face (issue 17). New columns are nullable or have defaults, so no backfill is needed.
CREATE TABLE `catalog_event_types` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`schemas` text,
	`group_name` text,
	`feature_flags` text,
	`archived` integer DEFAULT false NOT NULL,
	`deprecated` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `idempotency_records` (
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`request` text NOT NULL,
	`status` integer NOT NULL,
	`body` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `key`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `tenant_uids` (
	`uid` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `endpoints` ADD `uid` text;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `labels` text;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `header_style` text DEFAULT 'webhook' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `endpoints_uid_unique` ON `endpoints` (`tenant_id`,`uid`) WHERE uid IS NOT NULL;--> statement-breakpoint
ALTER TABLE `events` ADD `labels` text;--> statement-breakpoint
ALTER TABLE `events` ADD `tags` text;--> statement-breakpoint
ALTER TABLE `events` ADD `deliver_at` integer;--> statement-breakpoint
CREATE INDEX `events_scheduled` ON `events` (`deliver_at`) WHERE deliver_at IS NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `uid` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `metadata` text DEFAULT '{}' NOT NULL;