import "vitest";

declare module "vitest" {
	interface ProvidedContext {
		/** Base URL of the loopback receiver started by test/receiver-setup.ts. */
		receiverUrl: string;
	}
}
