import type { BodyLimit } from "../lib/json-body";
import { SVIX_MESSAGE_CREATE_PATH } from "../svix/paths";
import { MAX_BATCH_BODY_BYTES, MAX_EVENT_PAYLOAD_BYTES } from "./events/schemas";

const DEFAULT_BODY_LIMIT = 256 * 1024;
/** Room for `type` and `id` around a payload of the full 256 KiB. */
const EVENT_BODY_LIMIT = MAX_EVENT_PAYLOAD_BYTES + 4 * 1024;

/** The largest body a route reads, and the 413's words for it: the limits the README states. */
export function bodyLimitFor(path: string): BodyLimit {
	if (path === "/v1/events/batch") {
		return {
			bytes: MAX_BATCH_BODY_BYTES,
			tooLarge: `the body is too large: a batch may be at most 2 MiB (${MAX_BATCH_BODY_BYTES} bytes)`,
		};
	}
	if (path === "/v1/events" || SVIX_MESSAGE_CREATE_PATH.test(path)) {
		return {
			bytes: EVENT_BODY_LIMIT,
			tooLarge: `the event is too large: its data may be at most 256 KiB (${MAX_EVENT_PAYLOAD_BYTES} bytes), and this body is over ${EVENT_BODY_LIMIT} bytes, that much with room for its type and id`,
		};
	}
	return {
		bytes: DEFAULT_BODY_LIMIT,
		tooLarge: `the body is too large: a request body here may be at most 256 KiB (${DEFAULT_BODY_LIMIT} bytes)`,
	};
}
