import { inject } from "vitest";

declare module "vitest" {
	export interface ProvidedContext {
		/** Origin of the `wrangler dev` server started by the global setup. */
		edgehookBaseUrl: string;
		/** The `ADMIN_API_KEY` that server was started with. */
		edgehookAdminKey: string;
		/**
		 * The file wrangler's output goes to (the email tests read the
		 * `Email: <path>` lines in it); empty when the server was started elsewhere.
		 */
		edgehookWranglerLog: string;
	}
}

/** Where the worker under test listens, and the key that manages it. */
export interface E2eTarget {
	baseUrl: string;
	adminKey: string;
	/** wrangler's output file, or "" for a server started elsewhere (E2E_BASE_URL). */
	wranglerLog: string;
}

/** Reads what `test/e2e/global-setup.ts` provided to every test file. */
export function target(): E2eTarget {
	return {
		baseUrl: inject("edgehookBaseUrl"),
		adminKey: inject("edgehookAdminKey"),
		wranglerLog: inject("edgehookWranglerLog"),
	};
}
