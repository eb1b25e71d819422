/**
 * Prefixed identifiers. The alphabet is Crockford's base32 in lower case: its
 * characters sort in ASCII order, so fixed-width encodings of numbers sort
 * like the numbers.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const RANDOM_CHARS = 16;
const SEQUENCE_CHARS = 10;

export const ID_PREFIX = {
	tenant: "ten_",
	key: "key_",
	endpoint: "hook_",
	event: "evt_",
	delivery: "del_",
	attempt: "att_",
	task: "task_",
} as const;

function randomChars(count: number): string {
	const bytes = crypto.getRandomValues(new Uint8Array(count));
	let out = "";
	for (const byte of bytes) out += ALPHABET[byte & 31];
	return out;
}

function encodeFixed(value: number, width: number): string {
	let remaining = value;
	let out = "";
	for (let i = 0; i < width; i++) {
		out = ALPHABET[remaining % 32] + out;
		remaining = Math.floor(remaining / 32);
	}
	return out;
}

function decodeFixed(text: string): number | null {
	let value = 0;
	for (const char of text) {
		const digit = ALPHABET.indexOf(char);
		if (digit < 0) return null;
		value = value * 32 + digit;
	}
	return value;
}

export function newTenantId(): string {
	return ID_PREFIX.tenant + randomChars(RANDOM_CHARS);
}

export function newApiKeyId(): string {
	return ID_PREFIX.key + randomChars(RANDOM_CHARS);
}

export function newTaskId(): string {
	return ID_PREFIX.task + randomChars(RANDOM_CHARS);
}

export function newEndpointId(): string {
	return ID_PREFIX.endpoint + randomChars(RANDOM_CHARS);
}

/**
 * Event ids lead with the time so that generated ids sort roughly by creation.
 * A stored event's generated id is made by its INSERT instead, from the
 * created_at it is stored with (generatedEventIdSql), so that the id tells
 * where the event lies among the seqs.
 */
export function newEventId(nowMs: number): string {
	return ID_PREFIX.event + encodeFixed(nowMs, SEQUENCE_CHARS) + newEventIdNonce();
}

/** The random part of a generated event id. */
export function newEventIdNonce(): string {
	return randomChars(RANDOM_CHARS);
}

/** The random part of an id generatedEventIdSql made. */
export function nonceOfGeneratedEventId(id: string): string {
	return id.slice(-RANDOM_CHARS);
}

const GENERATED_EVENT_ID = new RegExp(`^${ID_PREFIX.event}[${ALPHABET}]{${SEQUENCE_CHARS + RANDOM_CHARS}}$`);

/** Whether an id has the form Edgehook gives events (`evt_` and 26 characters of its alphabet). */
export function isGeneratedEventId(id: string): boolean {
	return GENERATED_EVENT_ID.test(id);
}

/** The created_at (ms) an id of the generated form leads with, or null for an id of another form. */
export function generatedEventTime(id: string): number | null {
	if (!isGeneratedEventId(id)) return null;
	const start = ID_PREFIX.event.length;
	return decodeFixed(id.slice(start, start + SEQUENCE_CHARS));
}

/** SQL text of `expression`'s value as `width` characters of the alphabet, as encodeFixed writes it in TypeScript. */
function encodeFixedSql(expression: string, width: number): string {
	const digits: string[] = [];
	for (let place = width - 1; place >= 0; place--)
		digits.push(`substr('${ALPHABET}', ((${expression}) >> ${5 * place} & 31) + 1, 1)`);
	return digits.join(" || ");
}

/**
 * SQL text of a generated event id: `evt_`, the event's created_at and a
 * random part (newEventIdNonce), each expression a SQL text.
 */
export function generatedEventIdSql(createdAt: string, nonce: string): string {
	return `'${ID_PREFIX.event}' || ${encodeFixedSql(createdAt, SEQUENCE_CHARS)} || ${nonce}`;
}

export function newAttemptId(): string {
	return ID_PREFIX.attempt + randomChars(RANDOM_CHARS);
}

/**
 * A delivery is the pair (endpoint, event), so its id is derived from both:
 * the same pair always yields the same id, which makes queue redelivery and
 * manual resends land on the same row, and the endpoint key leads so that one
 * endpoint's deliveries are a contiguous primary-key range in event order.
 */
export function deliveryId(endpointId: string, eventSeq: number): string {
	if (!Number.isSafeInteger(eventSeq) || eventSeq < 0 || eventSeq >= 32 ** SEQUENCE_CHARS) {
		throw new RangeError(`event sequence ${eventSeq} does not fit a delivery id`);
	}
	return ID_PREFIX.delivery + endpointId.slice(ID_PREFIX.endpoint.length) + encodeFixed(eventSeq, SEQUENCE_CHARS);
}

/*
 * The stored delivery id above embeds the event's sequence number, which
 * counts every tenant's events: two of them would tell a tenant how many
 * events the others sent in between. So outside the service (API, dashboard,
 * operational events, message links) a delivery is named by the two public
 * ids it pairs instead, `del_<endpoint key>_<event id>`, and turned back into
 * the stored id by looking its event up.
 */
const PUBLIC_DELIVERY_SEPARATOR = "_";

export function publicDeliveryId(endpointId: string, eventId: string): string {
	return ID_PREFIX.delivery + endpointId.slice(ID_PREFIX.endpoint.length) + PUBLIC_DELIVERY_SEPARATOR + eventId;
}

export function parsePublicDeliveryId(id: string): { endpointId: string; eventId: string } | null {
	const keyEnd = ID_PREFIX.delivery.length + RANDOM_CHARS;
	if (!id.startsWith(ID_PREFIX.delivery) || id.charAt(keyEnd) !== PUBLIC_DELIVERY_SEPARATOR) return null;
	const endpointKey = id.slice(ID_PREFIX.delivery.length, keyEnd);
	const eventId = id.slice(keyEnd + 1);
	if (decodeFixed(endpointKey) === null || eventId === "") return null;
	return { endpointId: ID_PREFIX.endpoint + endpointKey, eventId };
}

export function parseDeliveryId(id: string): { endpointId: string; eventSeq: number } | null {
	if (!id.startsWith(ID_PREFIX.delivery) || id.length !== ID_PREFIX.delivery.length + RANDOM_CHARS + SEQUENCE_CHARS) {
		return null;
	}
	const endpointKey = id.slice(ID_PREFIX.delivery.length, ID_PREFIX.delivery.length + RANDOM_CHARS);
	const eventSeq = decodeFixed(id.slice(ID_PREFIX.delivery.length + RANDOM_CHARS));
	if (eventSeq === null || decodeFixed(endpointKey) === null) return null;
	return { endpointId: ID_PREFIX.endpoint + endpointKey, eventSeq };
}

/** SQL text of the event seq a stored delivery id (the SQL text `column`) ends with, as parseDeliveryId reads it. */
export function deliveryEventSeqSql(column: string): string {
	const terms: string[] = [];
	for (let place = 0; place < SEQUENCE_CHARS; place++)
		terms.push(
			`((instr('${ALPHABET}', substr(${column}, ${-SEQUENCE_CHARS + place}, 1)) - 1) << ${5 * (SEQUENCE_CHARS - 1 - place)})`,
		);
	return `(${terms.join(" | ")})`;
}

/** The id range [from, to) that holds every delivery of one endpoint. */
export function deliveryIdRange(endpointId: string): { from: string; to: string } {
	const key = endpointId.slice(ID_PREFIX.endpoint.length);
	return { from: ID_PREFIX.delivery + key, to: `${ID_PREFIX.delivery + key}~` };
}
