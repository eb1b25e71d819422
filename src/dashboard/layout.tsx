import type { Child } from "hono/jsx";
import { ActionForm } from "./components";
import { ASSETS, DASHBOARD, SIGN_OUT, tenantPath } from "./paths";
import type { Session } from "./session";

/** The tenant view's sections, in the order of its navigation. */
const TENANT_SECTIONS = [
	{ key: "endpoints", label: "Endpoints", path: "/endpoints" },
	{ key: "events", label: "Events", path: "/events" },
	{ key: "event-types", label: "Event types", path: "/event-types" },
	{ key: "templates", label: "Templates", path: "/templates" },
] as const;

export type Section = (typeof TENANT_SECTIONS)[number]["key"] | "tenants" | "none";

export interface LayoutProps {
	title: string;
	session: Session | null;
	/** The tenant whose view this page belongs to, for the navigation. */
	tenantId?: string | null;
	section?: Section;
	/** Reload the page after this many seconds (a running task's progress). */
	refreshSeconds?: number;
	children?: Child;
}

function whoLabel(session: Session): string {
	if (session.role === "admin") return "Operator (admin key)";
	if (session.role === "portal") return session.readOnly ? "Portal, read-only" : "Portal";
	return "Tenant key";
}

export function Layout(props: LayoutProps) {
	const { session, tenantId } = props;
	const section = props.section ?? "none";
	return (
		<html lang="en">
			<head>
				<meta charset="utf-8" />
				<meta name="viewport" content="width=device-width, initial-scale=1" />
				<title>{`${props.title} · Edgehook`}</title>
				{/* An empty icon, so browsers do not ask for /favicon.ico on every page. */}
				<link rel="icon" href="data:," />
				<link rel="stylesheet" href={`${ASSETS}/app.css`} />
				{props.refreshSeconds ? <meta name="edgehook-refresh" content={String(props.refreshSeconds)} /> : null}
				<script src={`${ASSETS}/app.js`} defer />
			</head>
			<body>
				<a class="skip" href="#main">
					Skip to content
				</a>
				<header class="top">
					<a class="brand" href={DASHBOARD}>
						Edgehook
					</a>
					{session ? (
						<nav aria-label="Main">
							<ul>
								{session.role === "admin" ? (
									<li>
										<a href={`${DASHBOARD}/tenants`} aria-current={section === "tenants" ? "page" : undefined}>
											Tenants
										</a>
									</li>
								) : null}
								{tenantId
									? TENANT_SECTIONS.map((item) => (
											<li>
												<a
													href={tenantPath(tenantId, item.path)}
													aria-current={section === item.key ? "page" : undefined}
												>
													{item.label}
												</a>
											</li>
										))
									: null}
							</ul>
						</nav>
					) : null}
					{session ? (
						<div class="who">
							<span>
								{whoLabel(session)}
								{tenantId ? ` · tenant ${tenantId}` : ""}
							</span>
							{session.readOnly ? (
								<a href={SIGN_OUT}>Sign out</a>
							) : (
								<ActionForm session={session} action={SIGN_OUT}>
									<button type="submit" class="secondary">
										Sign out
									</button>
								</ActionForm>
							)}
						</div>
					) : null}
				</header>
				<main id="main">
					<h1>{props.title}</h1>
					{props.children}
				</main>
			</body>
		</html>
	);
}
