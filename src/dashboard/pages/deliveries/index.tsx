import type { z } from "@hono/zod-openapi";
import type { Hono } from "hono";
import type { DeliveryDetail } from "../../../routes/deliveries/schemas";
import { ActionForm, Badge, Notice, Time } from "../../components";
import { apiFailurePage, type DashboardContext, type DashboardEnv, render, TENANT_ROUTE } from "../../context";
import { deliveryPath, endpointPath, tenantPath, withQuery } from "../../paths";

type Delivery = z.infer<typeof DeliveryDetail>;

/** GET /v1/deliveries/{id}/request (src/routes/deliveries/request.ts). */
interface SentRequest {
	method: string;
	url: string;
	headers: Record<string, string>;
	body: string;
	note: string;
}

/** Fixed texts for `?notice=`; the query only picks one. */
const NOTICES: Record<string, string> = {
	retry_queued: "Retry queued. The new attempt shows below within a few seconds.",
};

/** How often the page reloads while a retry it queued has not been recorded yet. */
const RETRY_REFRESH_SECONDS = 2;
/** How long the page keeps reloading after a retry before it gives up waiting for the attempt. */
const RETRY_WAIT_MS = 30_000;

function apiPath(id: string, rest = ""): string {
	return `/v1/deliveries/${encodeURIComponent(id)}${rest}`;
}

function Attempts(props: { delivery: Delivery }) {
	const { attempts } = props.delivery;
	if (attempts.length === 0) {
		return (
			<p class="muted">
				{props.delivery.status === "skipped"
					? "None: the transformation or template produced nothing for this event, so nothing was sent."
					: "No attempt has been made yet: the first one is queued."}
			</p>
		);
	}
	return (
		<table>
			<caption class="sr-only">Attempts, oldest first</caption>
			<thead>
				<tr>
					<th scope="col">Attempt</th>
					<th scope="col">Time</th>
					<th scope="col">Trigger</th>
					<th scope="col">Duration</th>
					<th scope="col">Status code</th>
					<th scope="col">Error</th>
					<th scope="col">Response body</th>
				</tr>
			</thead>
			<tbody>
				{attempts.map((attempt) => (
					<tr>
						<td>{attempt.attempt}</td>
						<td>
							<Time value={attempt.started_at} />
						</td>
						<td>{attempt.trigger}</td>
						<td>{`${attempt.duration_ms} ms`}</td>
						<td>{attempt.status_code ?? <span class="muted">none</span>}</td>
						<td>{attempt.error ?? <span class="muted">none</span>}</td>
						<td>
							{attempt.response_body === null ? (
								<span class="muted">none</span>
							) : (
								<details>
									<summary>{`Response body of attempt ${attempt.attempt} (${attempt.response_body.length} characters)`}</summary>
									<pre>{attempt.response_body === "" ? "(empty)" : attempt.response_body}</pre>
								</details>
							)}
						</td>
					</tr>
				))}
			</tbody>
		</table>
	);
}

function RequestSent(props: { request: SentRequest | null; problem: string | null; noRequest: boolean }) {
	const { request } = props;
	// An email, or an event the transformation drops or fails on: the API says why there is no HTTP request.
	if (request === null && props.noRequest) return <Notice>{props.problem ?? "No HTTP request is sent."}</Notice>;
	if (request === null) {
		return <Notice kind="error">{`The request could not be rebuilt: ${props.problem ?? "unknown error"}`}</Notice>;
	}
	return (
		<>
			<p class="muted">{request.note}</p>
			<dl class="details">
				<dt>Method</dt>
				<dd class="mono">{request.method}</dd>
				<dt>URL</dt>
				<dd class="mono">{request.url}</dd>
			</dl>
			<h3>Headers</h3>
			<table>
				<thead>
					<tr>
						<th scope="col">Name</th>
						<th scope="col">Value</th>
					</tr>
				</thead>
				<tbody>
					{Object.entries(request.headers).map(([name, value]) => (
						<tr>
							<td class="mono">{name}</td>
							<td class="mono">{value}</td>
						</tr>
					))}
				</tbody>
			</table>
			<h3>Body</h3>
			<p class="muted">Exactly the bytes that were signed.</p>
			<pre>{request.body}</pre>
		</>
	);
}

async function deliveryPage(
	c: DashboardContext,
	options: { error?: string; status?: 200 | 409 | 429 | 500 } = {},
): Promise<Response> {
	const tenantId = c.var.tenantId;
	const id = c.req.param("id") ?? "";
	const [detail, sent] = await Promise.all([
		c.var.api.get<Delivery>(apiPath(id)),
		c.var.api.get<SentRequest>(apiPath(id, "/request")),
	]);
	if (!detail.ok) return apiFailurePage(c, detail, "Delivery");
	const delivery = detail.data;
	const notice = NOTICES[c.req.query("notice") ?? ""];
	// After a retry, reload until its attempt is recorded, so the page shows how it went.
	const awaited = Number(c.req.query("attempt"));
	// Bounded, so an attempt that is never recorded does not keep the page reloading forever.
	const queuedAt = Number(c.req.query("queued_at"));
	// A skipped delivery records no attempt when the transformation drops it again: nothing to wait for.
	const waiting =
		delivery.status !== "skipped" &&
		Number.isSafeInteger(awaited) &&
		awaited > delivery.attempt_count &&
		Number.isFinite(queuedAt) &&
		Date.now() - queuedAt < RETRY_WAIT_MS;
	return render(
		c,
		{
			title: "Delivery",
			section: "endpoints",
			refreshSeconds: waiting ? RETRY_REFRESH_SECONDS : undefined,
			children: (
				<>
					{options.error ? <Notice kind="error">{options.error}</Notice> : null}
					{notice ? <Notice kind="success">{notice}</Notice> : null}
					<dl class="details">
						<dt>Delivery</dt>
						<dd class="mono">{delivery.id}</dd>
						<dt>Status</dt>
						<dd>
							<Badge value={delivery.status} />
							{delivery.status_code === null ? null : ` HTTP ${delivery.status_code}`}
						</dd>
						<dt>Event</dt>
						<dd>
							<a href={tenantPath(tenantId, `/events/${encodeURIComponent(delivery.event_id)}`)} class="mono">
								{delivery.event_id}
							</a>{" "}
							<span class="mono">{delivery.event_type}</span>
						</dd>
						<dt>Endpoint</dt>
						<dd>
							<a href={endpointPath(tenantId, delivery.endpoint_id)} class="mono">
								{delivery.endpoint_id}
							</a>
						</dd>
						<dt>Attempts</dt>
						<dd>{delivery.attempt_count}</dd>
						<dt>Next attempt</dt>
						<dd>
							<Time value={delivery.next_attempt_at} empty="none scheduled" />
						</dd>
						<dt>Delivered</dt>
						<dd>
							<Time value={delivery.delivered_at} empty="not yet" />
						</dd>
						<dt>Last error</dt>
						<dd>{delivery.error ?? <span class="muted">none</span>}</dd>
						<dt>Created</dt>
						<dd>
							<Time value={delivery.created_at} />
						</dd>
					</dl>
					<ActionForm session={c.var.session} action={deliveryPath(tenantId, delivery.id, "/retry")}>
						<button type="submit">Retry</button>
					</ActionForm>
					<h2>Attempts</h2>
					<Attempts delivery={delivery} />
					<h2>Request sent</h2>
					{c.var.session.readOnly ? (
						<p class="muted">Hidden in a read-only portal: the request carries signatures and custom header values.</p>
					) : (
						<RequestSent
							request={sent.ok ? sent.data : null}
							problem={sent.ok ? null : sent.message}
							noRequest={!sent.ok && sent.status === 409}
						/>
					)}
				</>
			),
		},
		options.status ?? 200,
	);
}

export function registerDeliveryPages(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/deliveries/:id`, (c) => deliveryPage(c));

	dashboard.post(`${TENANT_ROUTE}/deliveries/:id/retry`, async (c) => {
		const id = c.req.param("id");
		const result = await c.var.api.send<{ id: string; attempt: number }>("POST", apiPath(id, "/retry"));
		if (result.ok) {
			return c.redirect(
				withQuery(deliveryPath(c.var.tenantId, id), {
					notice: "retry_queued",
					attempt: result.data.attempt,
					queued_at: Date.now(),
				}),
				303,
			);
		}
		if (result.status === 404) return apiFailurePage(c, result, "Delivery");
		// Why it cannot be retried (still queued, endpoint disabled) belongs on the delivery's own page.
		const status = result.status === 409 || result.status === 429 ? result.status : 500;
		return deliveryPage(c, { error: `Not retried: ${result.message}`, status });
	});
}
