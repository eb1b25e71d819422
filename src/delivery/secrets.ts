/**
 * Secret rotation. An endpoint signs with its current secret and, during a
 * rotation's grace period, also with the secrets it replaced, so a receiver
 * can switch to the new secret at any time within the grace period.
 */

/** A replaced secret and when it stops signing (ms since the epoch). */
export interface PreviousSecret {
	secret: string;
	expires_at: number;
}

export const DEFAULT_GRACE_PERIOD_SECONDS = 24 * 3600;
export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 3600;
/**
 * Replaced secrets kept at once. Each one adds a signature to every request,
 * so a burst of rotations cannot grow the header without bound.
 */
export const MAX_PREVIOUS_SECRETS = 5;

export function parsePreviousSecrets(json: string): PreviousSecret[] {
	const parsed: unknown = JSON.parse(json);
	return Array.isArray(parsed) ? (parsed as PreviousSecret[]) : [];
}

/** Every secret that signs right now: the current one first, then the replaced ones still in grace, newest first. */
export function signingSecrets(current: string, previousJson: string, nowMs: number): string[] {
	const stillValid = parsePreviousSecrets(previousJson)
		.filter((previous) => previous.expires_at > nowMs)
		.map((previous) => previous.secret);
	return [current, ...stillValid];
}

/**
 * The replaced secrets after `current` is rotated out with the given grace
 * period: it goes first, expired ones leave, and the oldest go beyond the cap.
 */
export function previousSecretsAfterRotation(
	current: string,
	previousJson: string,
	gracePeriodSeconds: number,
	nowMs: number,
): PreviousSecret[] {
	const kept = parsePreviousSecrets(previousJson).filter((previous) => previous.expires_at > nowMs);
	const rotatedOut = gracePeriodSeconds > 0 ? [{ secret: current, expires_at: nowMs + gracePeriodSeconds * 1000 }] : [];
	return [...rotatedOut, ...kept].slice(0, MAX_PREVIOUS_SECRETS);
}
