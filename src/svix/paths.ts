/**
 * The path of the Svix face's message create, which sends an event: it
 * takes an event's body limit and rate limit, and keeps its idempotency in
 * the event store. Its method is POST; a GET on it lists messages.
 */
export const SVIX_MESSAGE_CREATE_PATH = /^\/api\/v1\/app\/[^/]+\/msg\/?$/;
