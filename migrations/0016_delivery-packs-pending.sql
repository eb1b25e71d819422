-- Failed attempts and their retries are packed too (src/queue/record.ts): a pack that holds a pending
-- delivery says when its earliest retry is due, and the sweeper finds lost retries through this index,
-- one entry per pack instead of one per delivery.
ALTER TABLE `delivery_packs` ADD `pending_due` integer;--> statement-breakpoint
CREATE INDEX `delivery_packs_pending_due` ON `delivery_packs` (`pending_due`) WHERE pending_due IS NOT NULL;
