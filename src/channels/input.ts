/**
 * What the built-in Slack, Discord and email layouts are made from: the event
 * as the receiver sees it, plus where the delivery can be looked at. Kept free
 * of bindings so the layouts stay pure functions that the unit tests can call.
 */
export interface NotificationInput {
	envelope: { id: string; type: string; timestamp: string; data: unknown };
	/** The delivery's page in the dashboard, or null when PUBLIC_BASE_URL is not configured. */
	deliveryUrl: string | null;
}
