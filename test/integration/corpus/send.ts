import { exports } from "cloudflare:workers";
import { ADMIN_KEY, randomAddress } from "../helpers";
import { bytesOf, type Case } from "./cases";

/** One case as answered, and what is wrong with the answer (nothing, for a proper refusal). */
export interface Outcome {
	operation: string;
	name: string;
	status: number;
	problems: string[];
}

/** Judges an answer to a bad input: the problems with it, empty when it is a proper refusal. */
export type Judge = (c: Case, status: number, contentType: string, text: string) => string[];

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
	return new ReadableStream<Uint8Array>({
		start(controller) {
			for (let offset = 0; offset < bytes.byteLength; offset += 64 * 1024)
				controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
			controller.close();
		},
	});
}

/** Sends a case to the worker, as a client on the network would, and judges the answer. */
export async function sendCase(c: Case, judge: Judge): Promise<Outcome> {
	const headers = new Headers(c.headers);
	// Each case from an address of its own: the corpus's wrong keys must not add up to the failed-sign-in throttle.
	if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", randomAddress());
	if (c.authorization === undefined) headers.set("authorization", `Bearer ${ADMIN_KEY}`);
	else if (c.authorization !== null) headers.set("authorization", c.authorization);
	let body: BodyInit | undefined;
	if (c.body !== undefined) body = c.stream ? streamOf(bytesOf(c.body)) : c.body;
	let status = 0;
	let problems: string[];
	try {
		const response = await exports.default.fetch(`http://edgehook.test${c.url}`, { method: c.method, headers, body });
		status = response.status;
		problems = judge(c, status, response.headers.get("content-type") ?? "", await response.text());
	} catch (error) {
		problems = [`the request threw: ${error instanceof Error ? error.message : String(error)}`];
	}
	return { operation: c.operation, name: c.name, status, problems };
}

export function describeOutcome(outcome: Outcome): string {
	return `${outcome.operation} [${outcome.name}] → ${outcome.status}: ${outcome.problems.join("; ")}`;
}

/** Zod's own wording, which the API must never show. */
export const ZOD_WORDING = /Invalid input|Unrecognized key|Too (small|big):|expected \w+, received/;
