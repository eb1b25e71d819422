/** The value .dev.vars.example ships with: known to everyone who has read the repository. */
export const EXAMPLE_ADMIN_KEY = "change-me-local-admin-key";
/** Shorter than this, a key is guessable; it also derives the keys that sign sessions and portal links. */
export const MIN_ADMIN_KEY_LENGTH = 32;

/**
 * Why this deployment's ADMIN_API_KEY is unfit for production, or null when
 * it is fit (or the deployment is a local one, where any key will do).
 */
export function adminKeyProblem(env: Pick<Env, "ENVIRONMENT" | "ADMIN_API_KEY">): string | null {
	if (env.ENVIRONMENT === "development") return null;
	const key = env.ADMIN_API_KEY ?? "";
	const howToSet =
		"set a random one with `openssl rand -base64 32 | npx wrangler secret put ADMIN_API_KEY` and deploy again";
	if (key === "") return `ADMIN_API_KEY is not set: ${howToSet}`;
	if (key === EXAMPLE_ADMIN_KEY) return `ADMIN_API_KEY is the example's value from .dev.vars.example: ${howToSet}`;
	if (key.length < MIN_ADMIN_KEY_LENGTH) {
		return `ADMIN_API_KEY is ${key.length} characters; production needs at least ${MIN_ADMIN_KEY_LENGTH}: ${howToSet}`;
	}
	return null;
}
