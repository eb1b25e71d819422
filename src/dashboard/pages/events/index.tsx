import type { z } from "@hono/zod-openapi";
import type { Hono } from "hono";
import type { DeliveryOut } from "../../../routes/deliveries/schemas";
import type { EventOut } from "../../../routes/events/read";
import type { ApiCaller } from "../../api";
import { Badge, CodeList, Field, type FieldErrors, Notice, Pager, pretty, Time } from "../../components";
import { apiFailurePage, type DashboardEnv, render, TENANT_ROUTE } from "../../context";
import { endpointPath, tenantPath, withQuery } from "../../paths";

type EventSummary = z.infer<typeof EventOut>;

interface EventList {
	events: EventSummary[];
	next_cursor: string | null;
	has_more: boolean;
}

type EventDetail = EventSummary & { deliveries: z.infer<typeof DeliveryOut>[] };

const PAGE_SIZE = 50;

function eventPath(tenantId: string, id: string): string {
	return tenantPath(tenantId, `/events/${encodeURIComponent(id)}`);
}

/** The catalog's names, offered as suggestions for the type filter (events may carry types outside it). */
async function catalogNames(api: ApiCaller): Promise<string[]> {
	const result = await api.get<{ event_types: { name: string }[] }>("/v1/event-types?limit=250");
	return result.ok ? result.data.event_types.map((type) => type.name) : [];
}

/** An event's labels, then its tags, marked apart; nothing when it has neither. */
function LabelsAndTags(props: { event: EventSummary }) {
	const { labels, tags } = props.event;
	const hasLabels = labels !== null && labels.length > 0;
	const hasTags = tags !== null && tags.length > 0;
	if (!hasLabels && !hasTags) return <span class="muted">–</span>;
	return (
		<>
			{hasLabels ? (
				<div>
					<span class="muted">labels </span>
					<CodeList items={labels} empty="" />
				</div>
			) : null}
			{hasTags ? (
				<div>
					<span class="muted">tags </span>
					<CodeList items={tags} empty="" />
				</div>
			) : null}
		</>
	);
}

export function registerEventPages(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/events`, async (c) => {
		const tenantId = c.var.tenantId;
		const type = (c.req.query("type") ?? "").trim();
		const cursor = c.req.query("cursor") ?? "";
		const [list, names] = await Promise.all([
			c.var.api.get<EventList>(withQuery("/v1/events", { limit: PAGE_SIZE, cursor, type, order: "desc" })),
			catalogNames(c.var.api),
		]);
		const here = tenantPath(tenantId, "/events");
		const filterErrors: FieldErrors = list.ok ? {} : { type: list.fields.type ?? list.message };
		if (!list.ok && list.status !== 422) return apiFailurePage(c, list, "Events");
		const events = list.ok ? list.data.events : [];
		const next = list.ok && list.data.has_more ? withQuery(here, { type, cursor: list.data.next_cursor }) : null;
		return render(
			c,
			{
				title: "Events",
				section: "events",
				children: (
					<>
						<p class="muted">
							Every event this tenant sent, newest first. Polling clients read the same log oldest first with GET
							/v1/events and its cursor.
						</p>
						<form method="get" action={here} class="filters">
							<Field label="Event type" name="type" errors={filterErrors} hint="Exact name; empty for every type.">
								{(described) => <input type="text" name="type" value={type} list="event-type-names" {...described} />}
							</Field>
							<datalist id="event-type-names">
								{names.map((name) => (
									<option value={name} />
								))}
							</datalist>
							<div>
								<button type="submit">Filter</button>
							</div>
						</form>
						{events.length === 0 ? (
							<p>{`${cursor ? "No older events" : "No events yet"}${type ? ` of type ${type}` : ""}.`}</p>
						) : (
							<table>
								<thead>
									<tr>
										<th scope="col">Time</th>
										<th scope="col">Type</th>
										<th scope="col">Labels and tags</th>
										<th scope="col">Event</th>
									</tr>
								</thead>
								<tbody>
									{events.map((event) => (
										<tr>
											<td>
												<Time value={event.created_at} />
												{event.deliver_at === null ? null : (
													<div class="muted">
														scheduled for <Time value={event.deliver_at} />
													</div>
												)}
											</td>
											<td class="mono">{event.type}</td>
											<td>
												<LabelsAndTags event={event} />
											</td>
											<td>
												<a href={eventPath(tenantId, event.id)} class="mono">
													{event.id}
												</a>
											</td>
										</tr>
									))}
								</tbody>
							</table>
						)}
						<Pager next={next} first={cursor ? withQuery(here, { type }) : null} />
					</>
				),
			},
			list.ok ? 200 : 422,
		);
	});

	dashboard.get(`${TENANT_ROUTE}/events/:id`, async (c) => {
		const tenantId = c.var.tenantId;
		const result = await c.var.api.get<EventDetail>(`/v1/events/${encodeURIComponent(c.req.param("id"))}`);
		if (!result.ok) return apiFailurePage(c, result, "Event");
		const event = result.data;
		return render(c, {
			title: "Event",
			section: "events",
			children: (
				<>
					<dl class="details">
						<dt>Event</dt>
						<dd class="mono">{event.id}</dd>
						<dt>Type</dt>
						<dd class="mono">{event.type}</dd>
						<dt>Created</dt>
						<dd>
							<Time value={event.created_at} />
						</dd>
						{event.deliver_at === null ? null : (
							<>
								<dt>Scheduled for</dt>
								<dd>
									<Time value={event.deliver_at} />
								</dd>
							</>
						)}
						<dt>Labels</dt>
						<dd>
							<CodeList items={event.labels} empty="none: only endpoints without labels receive it" />
						</dd>
						<dt>Tags</dt>
						<dd>
							<CodeList items={event.tags} empty="none" />
						</dd>
					</dl>
					<h2>Payload</h2>
					<pre>{pretty(event.data)}</pre>
					<h2>Deliveries</h2>
					{event.deliveries.length === 0 ? (
						<Notice>
							No endpoint subscribed to this event type took it when it arrived (one with labels takes only events
							carrying one of them), so nothing was sent.
						</Notice>
					) : (
						<table>
							<thead>
								<tr>
									<th scope="col">Status</th>
									<th scope="col">Endpoint</th>
									<th scope="col">Attempts</th>
									<th scope="col">Status code</th>
									<th scope="col">Last error</th>
									<th scope="col">Delivery</th>
								</tr>
							</thead>
							<tbody>
								{event.deliveries.map((delivery) => (
									<tr>
										<td>
											<Badge value={delivery.status} />
										</td>
										<td>
											<a href={endpointPath(tenantId, delivery.endpoint_id)} class="mono">
												{delivery.endpoint_id}
											</a>
										</td>
										<td>{delivery.attempts}</td>
										<td>{delivery.status_code ?? <span class="muted">none</span>}</td>
										<td>{delivery.error ?? <span class="muted">none</span>}</td>
										<td>
											<a href={tenantPath(tenantId, `/deliveries/${encodeURIComponent(delivery.id)}`)} class="mono">
												{delivery.id}
											</a>
										</td>
									</tr>
								))}
							</tbody>
						</table>
					)}
				</>
			),
		});
	});
}
