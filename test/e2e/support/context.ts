import { inject } from "vitest";

declare module "vitest" {
	export interface ProvidedContext {
		/** Origin of the `wrangler dev` server started by the global setup. */
		edgehookBaseUrl: string;
		/** The `ADMIN_API_KEY` that server was started with. */
		edgehookAdminKey: string;
	}
}

/** Where the worker under test listens, and the key that manages it. */
export interface E2eTarget {
	baseUrl: string;
	adminKey: string;
}

/** Reads what `test/e2e/global-setup.ts` provided to every test file. */
export function target(): E2eTarget {
	return {
		baseUrl: inject("edgehookBaseUrl"),
		adminKey: inject("edgehookAdminKey"),
	};
}
