import type { TenantSettings } from "../delivery/settings";

/**
 * A tenant settings profile that makes deliveries verify with an existing
 * vendor's receiver code: one per vendor style, with the values of README.md's
 * "Stand in for an existing webhook system" table.
 */
export interface Preset {
	id: string;
	label: string;
	settings: TenantSettings;
}

export const PRESETS: readonly Preset[] = [
	{
		id: "khaleeji",
		label: "KhaleejiAPI style: X-Khaleeji-Signature, bare hex, 30 s timeout, retries 1 m, 5 m, 30 m, 2 h",
		settings: {
			signature_header: "X-Khaleeji-Signature",
			signature_prefix: "",
			timeout_ms: 30000,
			retry_schedule: [60, 300, 1800, 7200],
		},
	},
	{
		id: "x-webhook",
		label: "X-Webhook-Signature style: bare hex, retries 30 s, 5 m, 30 m, 2 h",
		settings: { signature_header: "X-Webhook-Signature", signature_prefix: "", retry_schedule: [30, 300, 1800, 7200] },
	},
	{
		id: "kyc",
		label: "KYC service style: X-Webhook-*, sha256=, user agent KYC-Webhooks/1.0",
		settings: { signature_header: "X-Webhook-Signature", signature_prefix: "sha256=", user_agent: "KYC-Webhooks/1.0" },
	},
	{
		id: "ekdsend",
		label: "EKDSend style: X-EKDSend-Signature, sha256=, 5 s timeout, 5 retries",
		settings: {
			signature_header: "X-EKDSend-Signature",
			signature_prefix: "sha256=",
			timeout_ms: 5000,
			retry_schedule: [5, 30, 120, 600, 1800],
		},
	},
];

export function presetById(id: string): Preset | undefined {
	return PRESETS.find((preset) => preset.id === id);
}
