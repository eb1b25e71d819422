import { createMiddleware } from "hono/factory";
import { ApiError, orUnavailable } from "../lib/errors";
import type { AppEnv } from "../routes/shared";
import { authenticate } from "./authenticate";
import { internalCaller, readOnlyMay } from "./internal";
import { authThrottled, clientAddress, countFailedAuth, isAuthThrottled } from "./rate-limit";

/**
 * Who is calling: an in-process caller (the dashboard, the Svix face) as
 * it was marked, else the Bearer key, checked against the admin key and the
 * key store. Failed attempts count towards the address's throttle.
 */
export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
	const internal = internalCaller(c.req.raw);
	if (internal) {
		if (internal.readOnly && !readOnlyMay(c.req.method, c.req.path)) {
			throw new ApiError("forbidden", "this portal link is read-only");
		}
		c.set("principal", internal.principal);
		c.set("readOnly", internal.readOnly);
		return next();
	}
	c.set("readOnly", false);
	const authorization = c.req.header("authorization") ?? "";
	const match = /^Bearer\s+(.+)$/i.exec(authorization);
	if (!match?.[1]) throw new ApiError("unauthorized", "send Authorization: Bearer <API key>");
	const address = clientAddress(c.req.raw);
	if (isAuthThrottled(address)) throw authThrottled();
	const token = match[1].trim();
	const principal = await orUnavailable("the key store", () =>
		authenticate(c.env, token, (work) => c.executionCtx.waitUntil(work)),
	);
	if (!principal) {
		if (await countFailedAuth(c.env, address)) throw authThrottled();
		throw new ApiError("unauthorized", "the API key is not valid");
	}
	c.set("principal", principal);
	await next();
});
/** Lets only the admin key through. */
export const requireAdminKey = createMiddleware<AppEnv>(async (c, next) => {
	if (c.var.principal.kind !== "admin") throw new ApiError("forbidden", "only the admin key may do this");
	await next();
});
