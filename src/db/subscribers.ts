import { type SQL, sql } from "drizzle-orm";

/**
 * Whether the event filter in `filter` (one element of an endpoint's `events`
 * JSON array) matches `eventType`: `*`, the exact type, or a prefix wildcard
 * such as `user.*`, which matches `user.created` and `user.profile.updated`
 * but not `user` itself. Written in SQL so that ingest can compute its fan-out
 * inside the INSERT of the event.
 */
export function filterMatches(filter: SQL, eventType: SQL): SQL {
	return sql`(${filter} = '*' OR ${filter} = ${eventType} OR (
		substr(${filter}, -2) = '.*'
		AND length(${eventType}) > length(${filter}) - 1
		AND substr(${eventType}, 1, length(${filter}) - 1) = substr(${filter}, 1, length(${filter}) - 1)))`;
}

/**
 * Whether an endpoint's routing labels (`e.labels`) let an event through
 * whose labels are the JSON array (or null) `labels`, as Svix routes its
 * channels (svix-server core/message_app.rs `filtered_endpoints`): an
 * endpoint that lists no labels receives every event; one that lists some
 * receives only events that carry one of them, and so never an event
 * without labels.
 */
function labelsMatch(labels: SQL): SQL {
	return sql`((e.labels IS NULL OR json_array_length(e.labels) = 0)
		OR EXISTS (SELECT 1 FROM json_each(e.labels) l WHERE l.value IN (SELECT value FROM json_each(${labels}))))`;
}

/**
 * A JSON array of the ids of the tenant's active endpoints subscribed to the
 * event type `eventType` whose routing labels take an event carrying
 * `labels`. Each is an SQL expression, so the fan-out of many events can be
 * computed by one statement, row by row.
 */
export function subscribersOf(tenantId: SQL, eventType: SQL, labels: SQL): SQL {
	return sql`(SELECT json_group_array(e.id) FROM endpoints e
		WHERE e.tenant_id = ${tenantId} AND e.active = 1
		AND EXISTS (SELECT 1 FROM json_each(e.events) f WHERE ${filterMatches(sql.raw("f.value"), eventType)})
		AND ${labelsMatch(labels)})`;
}
