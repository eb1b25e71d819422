-- Ids a sender gives events get an index of their own (events_given_id), marked by id_given; ids Edgehook
-- generates lead with the event's created_at, which ingest no longer lets go back in seq order, and are found
-- by bisecting the seqs (src/db/events.ts). Migration 0013 then drops the index of every id.
-- Upgrade: the events already stored keep their ids in the new index (id_given is NULL for them), which is
-- built over them: one row written per stored event, and the database answers nothing else while it builds
-- (about 0.4 s per million events in a local SQLite, more on D1). Apply it at a quiet hour on a large database.
ALTER TABLE `events` ADD `id_given` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `events_given_id` ON `events` (`tenant_id`,`id`) WHERE id_given IS NOT 0;