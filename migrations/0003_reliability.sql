CREATE TABLE `sweep_cursors` (
	`name` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `tasks` (
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`kind` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`status` text NOT NULL,
	`params` text NOT NULL,
	`total` integer NOT NULL,
	`done` integer NOT NULL,
	`cursor` text,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
ALTER TABLE `endpoints` ADD `rate_limit_per_second` integer;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `ordering` text DEFAULT 'unordered' NOT NULL;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `failing_since` integer;--> statement-breakpoint
CREATE INDEX `deliveries_pending_due` ON `deliveries` (`next_attempt_at`) WHERE status = 'pending';