import { VERSION } from "./lib/version";

/** The document header of /openapi.json and docs/openapi.json. */
export const OPENAPI_CONFIG = {
	openapi: "3.1.0",
	info: {
		title: "Edgehook API",
		version: VERSION,
		description: "Webhook delivery on Cloudflare: send events, manage endpoints, browse and replay deliveries.",
	},
	security: [{ bearerAuth: [] }],
};
