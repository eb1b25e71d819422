import { DEFAULT_USER_AGENT } from "../lib/version";
import { DEFAULT_SIGNATURE_HEADER, DEFAULT_SIGNATURE_PREFIX, type TenantSettings } from "./settings";
import { signBodyHex, signStandardWebhooks } from "./signing";

/**
 * Headers Edgehook sets itself, and those that describe the connection
 * rather than the message. Neither an endpoint's custom headers nor a
 * tenant's signature header may take these names: a misconfiguration could
 * otherwise silently break verification or the request itself.
 */
const HEADERS_SET_BY_EDGEHOOK = [
	"content-type",
	"content-length",
	"host",
	"user-agent",
	"webhook-id",
	"webhook-timestamp",
	"webhook-signature",
	"svix-id",
	"svix-timestamp",
	"svix-signature",
	"x-webhook-id",
	"x-webhook-timestamp",
	"connection",
	"keep-alive",
	"transfer-encoding",
	"te",
	"trailer",
	"upgrade",
	"expect",
	"proxy-connection",
];

/** Names a tenant's signature header may not take. */
export const SIGNATURE_HEADER_FORBIDDEN = new Set(HEADERS_SET_BY_EDGEHOOK);

/** Names an endpoint's custom headers may not take; the default signature header is among them. */
export const RESERVED_HEADER_NAMES = new Set([...HEADERS_SET_BY_EDGEHOOK, "x-webhook-signature"]);

/**
 * Prefixes of names that receivers written against Svix treat as Svix's own:
 * a custom `svix-…` header could pass for a signature header.
 */
const RESERVED_HEADER_PREFIXES = ["svix-", "x-svix-"];

/** Whether an endpoint's custom header may not take this name. */
export function isReservedHeaderName(name: string): boolean {
	const lower = name.toLowerCase();
	return RESERVED_HEADER_NAMES.has(lower) || RESERVED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/**
 * The names of the signature trio: Standard Webhooks' `webhook-*`, or
 * `svix-*` for receivers written against Svix, which may read
 * `svix-signature` by hand. The values are the same either way.
 */
export type HeaderStyle = "webhook" | "svix";

export interface SigningInput {
	eventId: string;
	body: string;
	/** Every secret valid right now; more than one during a rotation grace period. */
	secrets: readonly string[];
	timestampSeconds: number;
	tenant: TenantSettings;
	customHeaders: Record<string, string>;
	/** The endpoint's; webhook-* when missing. */
	headerStyle?: HeaderStyle;
}

/** The full header set of one attempt, signed at the moment of sending. */
export async function buildSignedHeaders(input: SigningInput): Promise<Record<string, string>> {
	const { eventId, body, secrets, timestampSeconds, tenant } = input;
	const [primarySecret] = secrets;
	if (primarySecret === undefined) throw new Error("an endpoint needs at least one secret");
	const standardSignatures = await Promise.all(
		secrets.map((secret) => signStandardWebhooks(secret, eventId, timestampSeconds, body)),
	);
	const timestamp = String(timestampSeconds);
	const prefix = input.headerStyle === "svix" ? "svix" : "webhook";
	return {
		...input.customHeaders,
		"content-type": "application/json",
		"user-agent": tenant.user_agent ?? DEFAULT_USER_AGENT,
		[`${prefix}-id`]: eventId,
		[`${prefix}-timestamp`]: timestamp,
		[`${prefix}-signature`]: standardSignatures.join(" "),
		"X-Webhook-ID": eventId,
		"X-Webhook-Timestamp": timestamp,
		[tenant.signature_header ?? DEFAULT_SIGNATURE_HEADER]: await signBodyHex(
			primarySecret,
			body,
			tenant.signature_prefix ?? DEFAULT_SIGNATURE_PREFIX,
		),
	};
}
