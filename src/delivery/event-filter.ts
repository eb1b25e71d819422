/**
 * The form of an event filter: an exact type (`user.created`), a prefix
 * wildcard (`user.*`) or `*`. Matching is done in SQL at ingest
 * (src/db/subscribers.ts).
 */
export const EVENT_FILTER_PATTERN = /^(\*|[A-Za-z0-9_\-:]+(\.[A-Za-z0-9_\-:]+)*(\.\*)?)$/;
