import type { Hono } from "hono";
import { CodeList, Notice, Pager, Time } from "../../components";
import { type DashboardEnv, render, TENANT_ROUTE } from "../../context";
import { endpointPath, tenantPath, withQuery } from "../../paths";
import {
	type Endpoint,
	EndpointState,
	type EndpointStats,
	EndpointTarget,
	NoticeFromQuery,
	percent,
	webhookPath,
} from "./shared";

/** Endpoints per page: each costs two more API calls (details with the circuit, stats). */
const PAGE_SIZE = 50;
/**
 * Deliveries each endpoint's figures are read from, the newest: fifty busy
 * endpoints at the stats route's own bound (20,000, with their attempts'
 * JSON) would read a million rows for one page view. The endpoint's page
 * reads them all.
 */
const LIST_STATS_DELIVERIES = 1_000;

interface Row {
	endpoint: Endpoint;
	stats: EndpointStats | null;
}

function EmptyState(props: { tenantId: string; readOnly: boolean }) {
	return (
		<div class="notice">
			<p>
				<strong>No endpoints yet.</strong> An endpoint is where Edgehook sends events, with retries: a URL of yours
				(signed), a Slack or Discord channel, or email addresses.
			</p>
			{props.readOnly ? null : (
				<p>
					Start with <a href={tenantPath(props.tenantId, "/endpoints/new")}>Add endpoint</a>: choose its channel, give
					its URL or addresses and pick the event types it receives. You get its signing secret once, then you can send
					it a test event from its page.
				</p>
			)}
		</div>
	);
}

/** Its uid and labels under its target: endpoints sending to one URL are often told apart by these alone. */
function EndpointNames(props: { endpoint: Endpoint }) {
	const uid = props.endpoint.uid;
	// Routing treats an empty list as none, so it shows as none.
	const labels = props.endpoint.labels?.length ? props.endpoint.labels : null;
	if (uid === null && labels === null) return null;
	return (
		<div class="muted">
			{uid === null ? null : (
				<>
					uid <code>{uid}</code>
				</>
			)}
			{uid !== null && labels !== null ? " · " : null}
			{labels === null ? null : (
				<>
					labels <CodeList items={labels} empty="" />
				</>
			)}
		</div>
	);
}

function EndpointTable(props: { tenantId: string; rows: Row[] }) {
	return (
		<table>
			<thead>
				<tr>
					<th scope="col">Sends to</th>
					<th scope="col">Description</th>
					<th scope="col">State</th>
					<th scope="col">Success rate (24 h)</th>
					<th scope="col">Deliveries (24 h)</th>
					<th scope="col">Last delivery</th>
				</tr>
			</thead>
			<tbody>
				{props.rows.map(({ endpoint, stats }) => (
					<tr>
						<td>
							<EndpointTarget endpoint={endpoint} href={endpointPath(props.tenantId, endpoint.id)} />
							<EndpointNames endpoint={endpoint} />
						</td>
						<td>{endpoint.description || <span class="muted">–</span>}</td>
						<td>
							<EndpointState endpoint={endpoint} />
						</td>
						<td>
							{stats ? percent(stats.totals.success_rate) : <span class="muted">–</span>}
							{stats?.sampled ? (
								<span class="hint"> of the last {LIST_STATS_DELIVERIES.toLocaleString("en")}</span>
							) : null}
						</td>
						<td>
							{stats ? stats.totals.deliveries : <span class="muted">–</span>}
							{stats?.sampled ? "+" : null}
						</td>
						<td>{stats ? <Time value={stats.last_delivery_at} /> : <span class="muted">–</span>}</td>
					</tr>
				))}
			</tbody>
		</table>
	);
}

export function registerEndpointList(dashboard: Hono<DashboardEnv>): void {
	dashboard.get(`${TENANT_ROUTE}/endpoints`, async (c) => {
		const api = c.var.api;
		const tenantId = c.var.tenantId;
		const cursor = c.req.query("cursor") ?? null;
		const list = await api.get<{ webhooks: Endpoint[]; next_cursor: string | null }>(
			withQuery("/v1/webhooks", { limit: PAGE_SIZE, cursor }),
		);
		if (!list.ok) {
			return render(
				c,
				{ title: "Endpoints", section: "endpoints", children: <Notice kind="error">{list.message}</Notice> },
				500,
			);
		}
		// The list has no circuit or figures: each endpoint's own answers add them.
		const rows: Row[] = await Promise.all(
			list.data.webhooks.map(async (listed) => {
				const [detail, stats] = await Promise.all([
					api.get<Endpoint>(webhookPath(listed.id)),
					api.get<EndpointStats>(webhookPath(listed.id, `/stats?window=24h&max_deliveries=${LIST_STATS_DELIVERIES}`)),
				]);
				return { endpoint: detail.ok ? detail.data : listed, stats: stats.ok ? stats.data : null };
			}),
		);
		const readOnly = c.var.session.readOnly;
		const base = tenantPath(tenantId, "/endpoints");
		return render(c, {
			title: "Endpoints",
			section: "endpoints",
			children: (
				<>
					<NoticeFromQuery code={c.req.query("notice")} />
					{readOnly ? null : (
						<p>
							<a class="button" href={tenantPath(tenantId, "/endpoints/new")}>
								Add endpoint
							</a>
						</p>
					)}
					{rows.length === 0 && cursor === null ? (
						<EmptyState tenantId={tenantId} readOnly={readOnly} />
					) : (
						<EndpointTable tenantId={tenantId} rows={rows} />
					)}
					<Pager
						next={list.data.next_cursor === null ? null : withQuery(base, { cursor: list.data.next_cursor })}
						first={cursor === null ? null : base}
					/>
				</>
			),
		});
	});
}
