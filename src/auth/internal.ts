import type { Principal } from "./authenticate";

/*
 * The dashboard drives the API in-process, so that its pages go through the
 * very same routes, validation and tenant scoping as API clients. Its
 * requests carry the signed-in principal here, keyed by the Request object
 * itself: nothing a client can send over the network can put an entry in
 * this map, unlike a header.
 */
const principals = new WeakMap<Request, Principal>();

/** Marks an in-process request as made by `principal`. */
export function actAs(request: Request, principal: Principal): Request {
	principals.set(request, principal);
	return request;
}

/** The principal an in-process request acts as, if it is one. */
export function internalPrincipal(request: Request): Principal | undefined {
	return principals.get(request);
}
