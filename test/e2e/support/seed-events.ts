/**
 * Event bodies written the way a sender might write them, not the way
 * JSON.stringify would: pretty-printed, numbers as `1.0`, `1e3`, `-0.5e-2`,
 * escapes (`\"`, `\\`, `\n`, `\u00e9`, `\/`, a surrogate pair), non-ASCII text
 * in several scripts, integer-like keys out of order, nested objects and
 * arrays. Edgehook must deliver the canonical `JSON.stringify` form of it:
 * receivers that re-serialize the parsed body (the Node seed snippets) and
 * receivers that hash the raw bytes (the Python one, standardwebhooks) must
 * then agree on the signature.
 */

import { createHmac } from "node:crypto";

/** The event as raw JSON text; `type` and `seq` must need no escaping. */
export function rawEventText(type: string, seq: number): string {
	if (!/^[a-z0-9._-]+$/.test(type)) {
		throw new Error(`rawEventText: type ${JSON.stringify(type)} would need escaping`);
	}
	// String.raw: every backslash below reaches the JSON text as written.
	return String.raw`{
    "type": "${type}",
    "data": {
        "seq": ${seq},
        "amount": 1.0,
        "count": 1e3,
        "delta": -0.5e-2,
        "large": 1E21,
        "negative_zero": -0,
        "names": [
            "Zoë Ñandú 🚀",
            "مرحبا بالعالم",
            "你好，世界",
            "こんにちは",
            "Ελληνικά"
        ],
        "escapes": "quote \" backslash \\ newline \n tab \t e-acute \u00e9 snowman \u2603 rocket \ud83d\ude80 slash \/ bell \u0007",
        "order": {"b": 1, "10": "ten", "2": "two", "a": 0},
        "nested": {
            "level1": {
                "level2": {
                    "list": [1, [2.50, [3, {"deep": true, "none": null}]], false, "x"]
                }
            }
        },
        "empty": {"object": {}, "array": [], "string": ""}
    }
}`;
}

/** The body Edgehook should deliver for an accepted event: its envelope as JSON.stringify writes it. */
export function canonicalDelivery(
	event: { id: string; type: string; created: number; created_at: string },
	rawText: string,
): string {
	const { data } = JSON.parse(rawText) as { data: unknown };
	return JSON.stringify({
		id: event.id,
		type: event.type,
		created: event.created,
		created_at: event.created_at,
		data,
	});
}

/** Lower-case hex HMAC-SHA256 keyed with the whole secret string (as the vendors' snippets key it). */
export function hexHmac(secret: string, body: Buffer | string): string {
	return createHmac("sha256", secret).update(body).digest("hex");
}

/** The Standard Webhooks `v1,<base64>` signature of one message with one secret. */
export function standardSignature(secret: string, id: string, timestamp: string, body: string): string {
	const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
	return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}
