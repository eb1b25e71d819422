import { createRoute, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { getEndpointOr404 } from "../../db/endpoints";
import { endpoints } from "../../db/schema";
import {
	DEFAULT_GRACE_PERIOD_SECONDS,
	MAX_GRACE_PERIOD_SECONDS,
	previousSecretsAfterRotation,
} from "../../delivery/secrets";
import { generateSecret } from "../../delivery/signing";
import { notFound } from "../../lib/errors";
import { createRouter, errorResponses, IdParam, iso, jsonContent } from "../shared";
import { SecretSchema } from "./schemas";

const RotateIn = z
	.strictObject({
		secret: SecretSchema.optional().openapi({ description: "The new secret; generated when missing" }),
		grace_period_seconds: z
			.number()
			.int()
			.min(0)
			.max(MAX_GRACE_PERIOD_SECONDS)
			.optional()
			.openapi({ description: "How long the old secret keeps signing, default 86400 (24 h); 0 ends it at once" }),
	})
	.openapi("RotateSecretIn");

const RotateOut = z
	.object({
		secret: z.string().openapi({ description: "The new secret in full" }),
		previous_secret_expires_at: z
			.string()
			.nullable()
			.openapi({ description: "Until when the replaced secret also signs; null when it stopped at once" }),
	})
	.openapi("RotateSecretOut");

const route = createRoute({
	method: "post",
	path: "/v1/webhooks/{id}/rotate-secret",
	tags: ["Webhooks"],
	summary: "Replace the endpoint's signing secret, keeping the old one valid for a grace period",
	description:
		"During the grace period `webhook-signature` carries one `v1,` signature per valid secret, newest first, so a receiver verifies with either. The single-value hex signature header is signed with the new secret only.",
	request: {
		params: IdParam,
		body: { required: false, content: { "application/json": { schema: RotateIn } } },
	},
	responses: {
		200: jsonContent(RotateOut, "The new secret"),
		...errorResponses(400, 401, 404, 415, 422),
	},
});

export const rotateWebhookSecret = createRouter().openapi(route, async (c) => {
	const input = c.req.valid("json") ?? {};
	const existing = await getEndpointOr404(c.var.db, c.var.tenantId, c.req.valid("param").id);
	const id = existing.id;
	const now = Date.now();
	const secret = input.secret ?? generateSecret();
	const previous = previousSecretsAfterRotation(
		existing.secret,
		existing.previousSecrets,
		input.grace_period_seconds ?? DEFAULT_GRACE_PERIOD_SECONDS,
		now,
	);
	const [row] = await c.var.db
		.update(endpoints)
		.set({ secret, previousSecrets: JSON.stringify(previous), updatedAt: now })
		.where(and(eq(endpoints.tenantId, c.var.tenantId), eq(endpoints.id, id)))
		.returning({ id: endpoints.id });
	if (!row) throw notFound("webhook", id);
	const rotatedOut = previous.find((entry) => entry.secret === existing.secret);
	return c.json({ secret, previous_secret_expires_at: rotatedOut ? iso(rotatedOut.expires_at) : null }, 200);
});
