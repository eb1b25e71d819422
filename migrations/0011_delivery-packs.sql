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
--> statement-breakpoint
-- A success packed for a delivery that already has a row (a second send of its first attempt failed and was
-- recorded first) goes on in the row, as an upsert of the outcome would: readers take the row over the pack.
-- A trigger, so that it costs no statement of its own: nearly every pack finds no row.
CREATE TRIGGER `delivery_packs_onto_rows` AFTER INSERT ON `delivery_packs`
BEGIN
	UPDATE `deliveries` SET
		`status` = json_extract(m.value, '$[5]'),
		`status_code` = coalesce(json_extract(m.value, '$[6]'), `deliveries`.`status_code`),
		`attempt_count` = `deliveries`.`attempt_count` + json_extract(m.value, '$[7]'),
		`attempts` = json_insert(`deliveries`.`attempts`, '$[#]', json(json_extract(json_extract(m.value, '$[8]'), '$[0]'))),
		`next_attempt_at` = json_extract(m.value, '$[9]'),
		`delivered_at` = coalesce(json_extract(m.value, '$[10]'), `deliveries`.`delivered_at`),
		`error` = json_extract(m.value, '$[11]'),
		`updated_at` = json_extract(m.value, '$[13]')
	FROM json_each(NEW.`deliveries`) AS m
	WHERE `deliveries`.`id` = json_extract(m.value, '$[0]');
END;
