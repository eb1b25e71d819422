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

export interface SigningInput {
	eventId: string;
	body: string;
	/** Every secret valid right now; more than one during a rotation grace period. */
	secrets: readonly string[];
	timestampSeconds: number;
	tenant: TenantSettings;
	customHeaders: Record<string, string>;
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
	return {
		...input.customHeaders,
		"content-type": "application/json",
		"user-agent": tenant.user_agent ?? DEFAULT_USER_AGENT,
		"webhook-id": eventId,
		"webhook-timestamp": timestamp,
		"webhook-signature": standardSignatures.join(" "),
		"X-Webhook-ID": eventId,
		"X-Webhook-Timestamp": timestamp,
		[tenant.signature_header ?? DEFAULT_SIGNATURE_HEADER]: await signBodyHex(
			primarySecret,
			body,
			tenant.signature_prefix ?? DEFAULT_SIGNATURE_PREFIX,
		),
	};
}
