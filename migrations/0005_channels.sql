CREATE TABLE `templates` (
	`tenant_id` text NOT NULL,
	`channel` text NOT NULL,
	`event_type` text NOT NULL,
	`expression` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `channel`, `event_type`)
);
--> statement-breakpoint
ALTER TABLE `endpoints` ADD `channel` text DEFAULT 'webhook' NOT NULL;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `recipients` text;--> statement-breakpoint
ALTER TABLE `endpoints` ADD `transformation` text;