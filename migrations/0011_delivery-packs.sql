CREATE TABLE `delivery_packs` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`endpoint_id` text NOT NULL,
	`lowest_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`deliveries` text NOT NULL
) WITHOUT ROWID;
--> statement-breakpoint
-- For people reading the log with `wrangler d1 execute`: every delivery, from its row or its pack, as one
-- table (the service itself reads packs by their names, src/db/delivery-log.ts). A view costs no writes.
CREATE VIEW `delivery_log` AS
SELECT `id`, `tenant_id`, `endpoint_id`, `event_id`, `event_type`, `status`, `status_code`, `attempt_count`, `attempts`, `next_attempt_at`, `delivered_at`, `error`, `created_at`, `updated_at` FROM `deliveries`
UNION ALL
SELECT json_extract(m.value, '$[0]') AS `id`, json_extract(m.value, '$[1]') AS `tenant_id`, json_extract(m.value, '$[2]') AS `endpoint_id`, json_extract(m.value, '$[3]') AS `event_id`, json_extract(m.value, '$[4]') AS `event_type`, json_extract(m.value, '$[5]') AS `status`, json_extract(m.value, '$[6]') AS `status_code`, json_extract(m.value, '$[7]') AS `attempt_count`, json_extract(m.value, '$[8]') AS `attempts`, json_extract(m.value, '$[9]') AS `next_attempt_at`, json_extract(m.value, '$[10]') AS `delivered_at`, json_extract(m.value, '$[11]') AS `error`, json_extract(m.value, '$[12]') AS `created_at`, json_extract(m.value, '$[13]') AS `updated_at`
FROM `delivery_packs` AS p, json_each(p.`deliveries`) AS m
WHERE NOT EXISTS (SELECT 1 FROM `deliveries` AS d WHERE d.`id` = json_extract(m.value, '$[0]'));
