import type { Principal } from "./authenticate";

/** Who an in-process request acts as, and whether it may only read. */
export interface InternalCaller {
	principal: Principal;
	/**
	 * A read-only portal: it may only read, and sees no credentials. The API
	 * enforces both itself (src/app.ts), so no dashboard page can forget to.
	 */
	readOnly: boolean;
	/**
	 * Whose rate limit the call spends: the dashboard's own bucket per key
	 * (default), or none when the request it serves was already counted
	 * against the key (the Svix face counts each of its requests once,
	 * however many native calls it makes).
	 */
	rateLimitBucket?: "dashboard" | "counted";
}

/*
 * The dashboard drives the API in-process, so that its pages go through the
 * very same routes, validation and tenant scoping as API clients. Its
 * requests carry the signed-in caller here, keyed by the Request object
 * itself: nothing a client can send over the network can put an entry in
 * this map, unlike a header.
 */
const callers = new WeakMap<Request, InternalCaller>();

/** Marks an in-process request as made by `caller`. */
export function actAs(request: Request, caller: InternalCaller): Request {
	callers.set(request, caller);
	return request;
}

/** The caller an in-process request acts as, if it is one. */
export function internalCaller(request: Request): InternalCaller | undefined {
	return callers.get(request);
}

/**
 * Reads that hand out credentials: an endpoint's secret, and a delivery's
 * rebuilt request with its signatures and custom header values. A read-only
 * portal is for looking at deliveries, not for acting as the tenant's sender.
 */
const CREDENTIAL_READS = [/^\/v1\/webhooks\/[^/]+\/secret$/, /^\/v1\/deliveries\/[^/]+\/request$/];

/** Whether a read-only caller may make this request: reads only, and none that hands out a credential. */
export function readOnlyMay(method: string, path: string): boolean {
	return method === "GET" && !CREDENTIAL_READS.some((pattern) => pattern.test(path));
}
