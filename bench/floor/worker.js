/**
 * The floor that ingest is measured against (bench/scenarios/floor.ts): what
 * any worker has to do to accept an event, with nothing of Edgehook in it.
 * POST /store keeps the body in D1, the requests that arrive within a few
 * milliseconds of each other sharing one batch (as Edgehook's group commit
 * does), and answers 202. POST /store-and-send does that and then sends the
 * body on to RECEIVER_URL once, as one subscribed endpoint makes Edgehook do.
 * No auth, validation, queue, signature or delivery log: a real service
 * cannot do less, so its ratio to /healthz bounds ingest's on this machine.
 */

const GROUP_WAIT_MS = 4;

/** Bodies waiting for the next shared batch, and how the requests that sent them learn its outcome. */
let pending = null;

function storeInGroup(env, body) {
	if (pending === null) {
		const group = { bodies: [] };
		group.stored = new Promise((resolve, reject) => {
			setTimeout(() => {
				pending = null;
				const insert = env.DB.prepare("INSERT INTO events (payload, created_at) VALUES (?, ?)");
				env.DB.batch(group.bodies.map((payload) => insert.bind(payload, Date.now()))).then(resolve, reject);
			}, GROUP_WAIT_MS);
		});
		pending = group;
	}
	pending.bodies.push(body);
	return pending.stored;
}

export default {
	async fetch(request, env, ctx) {
		const { pathname } = new URL(request.url);
		if (pathname === "/healthz") return Response.json({ status: "ok" });
		if (request.method !== "POST") return Response.json({ error: "not found" }, { status: 404 });
		if (pathname === "/setup") {
			await env.DB.exec(
				"CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, payload TEXT, created_at INTEGER)",
			);
			return Response.json({ ready: true });
		}
		if (pathname !== "/store" && pathname !== "/store-and-send") {
			return Response.json({ error: "not found" }, { status: 404 });
		}
		const body = await request.text();
		await storeInGroup(env, body);
		if (pathname === "/store-and-send") {
			ctx.waitUntil(
				fetch(env.RECEIVER_URL, { method: "POST", body, headers: { "content-type": "application/json" } }).then(
					(response) => response.arrayBuffer(),
				),
			);
		}
		return Response.json({ accepted: true }, { status: 202 });
	},
};
