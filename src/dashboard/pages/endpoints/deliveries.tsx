import type { Hono } from "hono";
import { DeliveryStatus } from "../../../routes/deliveries/schemas";
import { Badge, Field, type FieldErrors, Notice, Pager, Time } from "../../components";
import { apiFailurePage, type DashboardEnv, notFoundPage, render, TENANT_ROUTE } from "../../context";
import { deliveryPath, endpointPath, withQuery } from "../../paths";
import { type Delivery, type Endpoint, EndpointTarget, loadCatalog, utcFromLocalInput, webhookPath } from "./shared";

const PAGE_SIZE = 50;
const STATUSES = DeliveryStatus.options;

interface Filters {
	status: string;
	event_type: string;
	since: string;
	until: string;
}

function FilterForm(props: { action: string; filters: Filters; errors: FieldErrors; eventTypes: string[] }) {
	const { filters, errors } = props;
	return (
		<form method="get" action={props.action} class="filters" aria-label="Filter deliveries">
			<Field label="Status" name="status" errors={errors}>
				{(described) => (
					<select name="status" {...described}>
						<option value="" selected={filters.status === ""}>
							Any
						</option>
						{STATUSES.map((status) => (
							<option value={status} selected={filters.status === status}>
								{status[0]?.toUpperCase()}
								{status.slice(1)}
							</option>
						))}
					</select>
				)}
			</Field>
			<Field label="Event type" name="event_type" errors={errors}>
				{(described) => (
					<>
						<input type="text" name="event_type" value={filters.event_type} list="event-type-names" {...described} />
						<datalist id="event-type-names">
							{props.eventTypes.map((name) => (
								<option value={name} />
							))}
						</datalist>
					</>
				)}
			</Field>
			<Field label="Since (UTC)" name="since" errors={errors}>
				{(described) => <input type="datetime-local" name="since" value={filters.since} {...described} />}
			</Field>
			<Field label="Until (UTC)" name="until" errors={errors}>
				{(described) => <input type="datetime-local" name="until" value={filters.until} {...described} />}
			</Field>
			<div>
				<button type="submit">Filter</button>
			</div>
		</form>
	);
}

function DeliveryTable(props: { tenantId: string; deliveries: Delivery[] }) {
	return (
		<table>
			<thead>
				<tr>
					<th scope="col">Time</th>
					<th scope="col">Event type</th>
					<th scope="col">Status</th>
					<th scope="col">Attempts</th>
					<th scope="col">Last status code</th>
					<th scope="col">Delivery</th>
				</tr>
			</thead>
			<tbody>
				{props.deliveries.map((delivery) => (
					<tr>
						<td>
							<Time value={delivery.created_at} />
						</td>
						<td>
							<code>{delivery.event_type}</code>
						</td>
						<td>
							<Badge value={delivery.status} />
						</td>
						<td>{delivery.attempts}</td>
						<td>{delivery.status_code ?? <span class="muted">–</span>}</td>
						<td>
							<a href={deliveryPath(props.tenantId, delivery.id)} class="mono">
								{delivery.id}
							</a>
						</td>
					</tr>
				))}
			</tbody>
		</table>
	);
}

export function registerDeliveryLog(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/endpoints/:id/deliveries`, async (c) => {
		const id = c.req.param("id");
		const tenantId = c.var.tenantId;
		const filters: Filters = {
			status: STATUSES.find((status) => status === c.req.query("status")) ?? "",
			event_type: (c.req.query("event_type") ?? "").trim(),
			since: c.req.query("since") ?? "",
			until: c.req.query("until") ?? "",
		};
		const cursor = c.req.query("cursor") ?? null;
		const [endpoint, catalog] = await Promise.all([c.var.api.get<Endpoint>(webhookPath(id)), loadCatalog(c.var.api)]);
		if (!endpoint.ok) return endpoint.status === 404 ? notFoundPage(c) : apiFailurePage(c, endpoint);
		const apiQuery = {
			limit: PAGE_SIZE,
			cursor,
			status: filters.status,
			event_type: filters.event_type,
			since: filters.since === "" ? "" : utcFromLocalInput(filters.since),
			until: filters.until === "" ? "" : utcFromLocalInput(filters.until),
		};
		const page = await c.var.api.get<{ deliveries: Delivery[]; next_cursor: string | null }>(
			withQuery(webhookPath(id, "/deliveries"), apiQuery),
		);
		if (!page.ok && page.status !== 422) return apiFailurePage(c, page, "Delivery log");
		const errors: FieldErrors = page.ok ? {} : page.fields;
		const base = endpointPath(tenantId, id, "/deliveries");
		const pageFilters = {
			status: filters.status,
			event_type: filters.event_type,
			since: filters.since,
			until: filters.until,
		};
		return render(
			c,
			{
				title: "Delivery log",
				section: "endpoints",
				children: (
					<>
						<p class="row">
							<span>
								Endpoint <EndpointTarget endpoint={endpoint.data} href={endpointPath(tenantId, id)} />
							</span>
						</p>
						<p class="hint">Newest first. Times are in UTC, and the Since and Until filters are read as UTC too.</p>
						<FilterForm action={base} filters={filters} errors={errors} eventTypes={catalog.map((type) => type.name)} />
						{!page.ok ? (
							<Notice kind="error">The filters are not valid: {page.message}</Notice>
						) : page.data.deliveries.length === 0 ? (
							<p class="muted">
								{cursor === null
									? "No deliveries match. Send a test event from the endpoint's page, or post an event it subscribes to."
									: "No more deliveries."}
							</p>
						) : (
							<DeliveryTable tenantId={tenantId} deliveries={page.data.deliveries} />
						)}
						{page.ok ? (
							<Pager
								next={
									page.data.next_cursor === null
										? null
										: withQuery(base, { ...pageFilters, cursor: page.data.next_cursor })
								}
								first={cursor === null ? null : withQuery(base, pageFilters)}
							/>
						) : null}
					</>
				),
			},
			page.ok ? 200 : 422,
		);
	});
}
