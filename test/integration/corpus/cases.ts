import fc from "fast-check";
import { MAX_JSON_DEPTH } from "../../../src/app";
import { bodyLimitFor } from "../../../src/routes/body-limits";
import { MAX_EVENT_PAYLOAD_BYTES } from "../../../src/routes/events/schemas";
import {
	baseValue,
	isRecord,
	type JsonSchema,
	jsonTypesOf,
	type Operation,
	OVERRIDES,
	type Parameter,
	type Slot,
	schemaProblems,
	slotsOf,
	typesOf,
} from "./schema";

/*
 * The bad-input corpus: for every operation of docs/openapi.json, requests
 * that are invalid by construction. Each case is checked locally before it
 * is sent (`whyInvalid`): a case the local rules find valid is a bug in the
 * corpus, not a finding, and the test says so.
 */

/** Statuses a refused request may answer with. */
export const ERROR_STATUSES = [400, 401, 403, 404, 409, 413, 415, 422] as const;

export const SEED = 20_251_117;

export type Body = string | Uint8Array;

export interface Case {
	operation: string;
	name: string;
	method: string;
	/** Path and query string, encoded as sent. */
	url: string;
	/** Lower-case names. */
	headers: Record<string, string>;
	body?: Body;
	/** Send the body as a stream of unknown length (no Content-Length). */
	stream?: boolean;
	/** The Authorization header: undefined sends the admin key, null sends none. */
	authorization?: string | null;
	/** The statuses this case may answer with; any of ERROR_STATUSES when missing. */
	allowed?: readonly number[];
	/** Why the case is invalid where the local checks cannot see it (an id that names nothing, no key). */
	reason?: string;
	/** Drawn by fast-check: dropped, not failed, when the local checks find it valid. */
	random?: boolean;
	/** The query parameters as the server decodes them. */
	query: [string, string][];
}

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function bytesOf(body: Body | undefined): Uint8Array {
	if (body === undefined) return new Uint8Array();
	return typeof body === "string" ? encoder.encode(body) : body;
}

/** The body size limit of a path (src/routes/body-limits.ts). */
export function bodyLimit(path: string): number {
	return bodyLimitFor(path).bytes;
}

/** The Content-Type the request goes with: fetch labels a string body text/plain when none is given. */
export function contentTypeOf(c: Case): string {
	return c.headers["content-type"] ?? (typeof c.body === "string" && !c.stream ? "text/plain;charset=UTF-8" : "");
}

/** How deep arrays and objects nest in a parsed JSON value. */
function depthOf(value: unknown): number {
	let deepest = 0;
	const stack: [unknown, number][] = [[value, 0]];
	for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
		const [current, depth] = item;
		if (typeof current !== "object" || current === null) continue;
		deepest = Math.max(deepest, depth + 1);
		for (const child of Object.values(current)) stack.push([child, depth + 1]);
	}
	return deepest;
}

/** Payloads the event routes refuse over MAX_EVENT_PAYLOAD_BYTES, a rule the schema cannot state. */
function payloadProblems(operation: Operation, body: unknown): string[] {
	const payloads =
		operation.path === "/v1/events" && isRecord(body)
			? [body.data]
			: operation.key === "POST /api/v1/app/{app_id}/msg" && isRecord(body)
				? [body.payload]
				: operation.path === "/v1/events/batch" && isRecord(body) && Array.isArray(body.events)
					? body.events.map((event: unknown) => (isRecord(event) ? event.data : undefined))
					: [];
	return payloads.some(
		(data) => data !== undefined && encoder.encode(JSON.stringify(data)).byteLength > MAX_EVENT_PAYLOAD_BYTES,
	)
		? ["an event payload is over its size limit"]
		: [];
}

function bodyProblems(operation: Operation, c: Case): string[] {
	const bytes = bytesOf(c.body);
	if (bytes.byteLength > bodyLimit(operation.path)) return ["the body is over the size limit"];
	const contentType = contentTypeOf(c);
	let parsed: unknown;
	if (bytes.byteLength > 0) {
		if (!/^application\/json\s*(;|$)/i.test(contentType)) return [`Content-Type "${contentType}" is not JSON`];
		let text: string;
		try {
			text = strictUtf8.decode(bytes);
		} catch {
			return ["the body is not UTF-8"];
		}
		try {
			parsed = JSON.parse(text);
		} catch {
			return ["the body is not JSON"];
		}
		if (depthOf(parsed) > MAX_JSON_DEPTH) return ["the body nests too deep"];
	}
	if (!operation.body) return [];
	const mediaType = contentType.split(";")[0]?.trim() ?? "";
	// @hono/zod-openapi checks an optional body only when it is labelled JSON, and hono reads a
	// body not labelled JSON as {}.
	if (!operation.body.required && !/^application\/([a-z-.]+\+)?json/i.test(contentType)) return [];
	if (!/^application\/([\w.-]+\+)?json$/i.test(mediaType)) parsed = {};
	else if (bytes.byteLength === 0) return ["the body is empty"];
	return [...schemaProblems(parsed, operation.body.schema), ...payloadProblems(operation, parsed)];
}

function queryProblems(value: string, schema: JsonSchema): string[] {
	const types = typesOf(schema) ?? [];
	if (types.includes("integer") || types.includes("number")) {
		// z.coerce.number(): Number(value), which must be finite.
		const number = Number(value);
		if (!Number.isFinite(number)) return [`${JSON.stringify(value.slice(0, 40))} is not a finite number`];
		return schemaProblems(number, schema, "value");
	}
	return schemaProblems(value, schema, "value");
}

/** Why the case is invalid by the local rules; empty when they find it valid. */
export function whyInvalid(operation: Operation, c: Case): string[] {
	const reasons = c.reason ? [c.reason] : [];
	for (const parameter of operation.parameters) {
		if (parameter.in === "query") {
			const values = c.query.filter(([name]) => name === parameter.name).map(([, value]) => value);
			if (values.length > 1) reasons.push(`query ${parameter.name} is given ${values.length} times`);
			const [value] = values;
			if (values.length === 1 && value !== undefined)
				reasons.push(...queryProblems(value, parameter.schema).map((problem) => `query ${parameter.name}: ${problem}`));
		}
		if (parameter.in === "header") {
			const value = c.headers[parameter.name.toLowerCase()];
			if (value !== undefined) reasons.push(...schemaProblems(value, parameter.schema, `header ${parameter.name}`));
		}
	}
	if (operation.method === "POST" || operation.method === "PATCH" || operation.method === "PUT")
		reasons.push(...bodyProblems(operation, c));
	return reasons;
}

// ---------------------------------------------------------------------------
// Generation

let draws = 0;

/** Values drawn with a fixed seed that changes with each draw, so the corpus is the same on every run. */
function draw<T>(arbitrary: fc.Arbitrary<T>, count: number): T[] {
	draws++;
	return fc.sample(arbitrary, { seed: SEED + draws, numRuns: count });
}

const randomJson = fc.oneof(
	fc.string({ unit: "binary", maxLength: 8 }),
	fc.integer(),
	fc.double(),
	fc.boolean(),
	fc.constant(null),
	fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
	fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

const randomUnicode = fc.oneof(
	fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }),
	fc.string({ unit: "binary", minLength: 1, maxLength: 16 }),
);

/** One value of each JSON type, for "wrong type" mutations. */
const TYPE_SAMPLES: [string, unknown][] = [
	["string", "corpus"],
	["integer", 7],
	["number", 2.5],
	["boolean", true],
	["array", ["corpus"]],
	["object", { corpus: 1 }],
	["null", null],
];

const ONE_MB = 1024 * 1024;
const HUGE_STRING = "x".repeat(ONE_MB);

/** A string the JSON text holds once and verbatim, to be replaced by raw text or bytes. */
const MARK = "CORPUS_MARK_7d1f";

function nested(levels: number): unknown {
	let value: unknown = { leaf: true };
	for (let level = 1; level < levels; level++) value = { a: value };
	return value;
}

interface BodySpec {
	name: string;
	body: Body;
	random?: boolean;
}

function json(name: string, value: unknown, random = false): BodySpec {
	return { name, body: JSON.stringify(value), random };
}

/** The body with the slot's value replaced by raw JSON text (tokens JSON.stringify cannot write). */
function rawAt(slot: Slot, token: string): string {
	return JSON.stringify(slot.put(MARK)).replace(JSON.stringify(MARK), token);
}

function allows(types: string[] | undefined, value: unknown): boolean {
	return types === undefined || jsonTypesOf(value).some((type) => types.includes(type));
}

/** An object schema that takes any properties, such as an event's `data`. */
function isFreeForm(schema: JsonSchema): boolean {
	const map = schema.additionalProperties;
	return (
		typesOf(schema)?.includes("object") === true &&
		schema.properties === undefined &&
		(map === undefined || map === true || (isRecord(map) && typesOf(map) === undefined))
	);
}

function slotMutations(slot: Slot): BodySpec[] {
	const label = slot.path === "" ? "body" : slot.path;
	const { schema } = slot;
	const types = typesOf(schema);
	const specs: BodySpec[] = [];
	if (slot.remove) specs.push(json(`${label}: required field missing`, slot.remove()));
	if (types !== undefined) {
		for (const [type, value] of TYPE_SAMPLES) {
			if (!allows(types, value)) specs.push(json(`${label}: ${type} instead of ${types.join("|")}`, slot.put(value)));
		}
		const wrong = draw(randomJson, 12).filter((value) => !allows(types, value));
		wrong.slice(0, 2).forEach((value, index) => {
			specs.push(json(`${label}: random wrong type #${index + 1}`, slot.put(value), true));
		});
	}
	if (types?.includes("object") && schema.additionalProperties === false) {
		const current = isRecord(slot.current) ? slot.current : {};
		specs.push(json(`${label}: unknown field`, slot.put({ ...current, corpus_unknown_field: true })));
	}
	if (isFreeForm(schema)) {
		specs.push(json(`${label}: free-form object holding a 1 MB string`, slot.put({ note: HUGE_STRING })));
	}
	if (types?.includes("string")) {
		if (schema.maxLength !== undefined) {
			specs.push(json(`${label}: maxLength + 1`, slot.put("a".repeat(schema.maxLength + 1))));
			specs.push(json(`${label}: maxLength + 1 emoji`, slot.put("😀".repeat(schema.maxLength + 1))));
			const long = fc.string({ unit: "grapheme", minLength: schema.maxLength + 1, maxLength: schema.maxLength + 8 });
			for (const value of draw(long, 1))
				specs.push(json(`${label}: random unicode over maxLength`, slot.put(value), true));
		}
		if (schema.minLength !== undefined && schema.minLength > 0) specs.push(json(`${label}: empty`, slot.put("")));
		if (schema.pattern !== undefined) {
			// Only the strings this pattern refuses: each case must be invalid by construction.
			for (const value of ["not valid!", " ", "\u0000", "a\r\nb", "a..b", "\u202e\ufffd"]) {
				if (new RegExp(schema.pattern).test(value)) continue;
				specs.push(json(`${label}: against pattern ${JSON.stringify(value)}`, slot.put(value)));
			}
			draw(randomUnicode, 3).forEach((value, index) => {
				specs.push(json(`${label}: random unicode #${index + 1}`, slot.put(value), true));
			});
		}
		if (schema.enum) specs.push(json(`${label}: not in enum`, slot.put("corpus-not-in-enum")));
		specs.push(json(`${label}: 1 MB string`, slot.put(HUGE_STRING)));
	}
	if (types?.includes("integer") || types?.includes("number")) {
		if (schema.minimum !== undefined) {
			specs.push(json(`${label}: minimum - 1`, slot.put(schema.minimum - 1)));
			specs.push(json(`${label}: -1e300`, slot.put(-1e300)));
			specs.push({ name: `${label}: -1e400`, body: rawAt(slot, "-1e400") });
		}
		if (schema.maximum !== undefined) {
			specs.push(json(`${label}: maximum + 1`, slot.put(schema.maximum + 1)));
			specs.push(json(`${label}: 1e300`, slot.put(1e300)));
		}
		if (types.includes("integer") && !types.includes("number")) {
			specs.push(json(`${label}: not an integer`, slot.put((schema.minimum ?? 0) + 0.5)));
			specs.push({ name: `${label}: 1e400`, body: rawAt(slot, "1e400") });
		}
		for (const token of ["NaN", "Infinity", "0x10", "01", ".5", "+1"]) {
			specs.push({ name: `${label}: malformed number ${token}`, body: rawAt(slot, token) });
		}
	}
	if (types?.includes("array")) {
		if (schema.minItems !== undefined && schema.minItems > 0) specs.push(json(`${label}: no items`, slot.put([])));
		if (schema.maxItems !== undefined) {
			const item = schema.items ? baseValue(schema.items) : null;
			specs.push(json(`${label}: maxItems + 1`, slot.put(Array.from({ length: schema.maxItems + 1 }, () => item))));
		}
	}
	if (slot.path !== "") specs.push(json(`${label}: nested 100 levels deep`, slot.put(nested(100))));
	return specs;
}

/** A body whose only bad part would be bytes placed in a plain string. */
function markedBody(operation: Operation): string {
	if (!operation.body) return JSON.stringify({ note: MARK });
	const schema = operation.body.schema;
	const slots = slotsOf(schema, baseValue(schema), (value) => value);
	const plain = slots.find(
		(slot) =>
			typesOf(slot.schema)?.join() === "string" &&
			slot.schema.pattern === undefined &&
			slot.schema.enum === undefined &&
			slot.schema.maxLength !== undefined &&
			!Object.hasOwn(OVERRIDES, slot.path.split(".").at(-1) ?? ""),
	);
	if (plain) return JSON.stringify(plain.put(MARK));
	const freeForm = slots.find((slot) => isFreeForm(slot.schema));
	if (freeForm) return JSON.stringify(freeForm.put({ note: MARK }));
	const anyString = slots.find((slot) => typesOf(slot.schema)?.includes("string"));
	return JSON.stringify(anyString ? anyString.put(MARK) : { note: MARK });
}

function concat(...parts: Uint8Array[]): Uint8Array {
	const out = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
	let offset = 0;
	for (const part of parts) {
		out.set(part, offset);
		offset += part.byteLength;
	}
	return out;
}

const BAD_UTF8: [string, number[]][] = [
	["byte 0xFF", [0xff]],
	["lone continuation byte", [0x80]],
	["overlong encoding of /", [0xc0, 0xaf]],
	["encoded UTF-16 surrogate", [0xed, 0xa0, 0x80]],
	["truncated sequence", [0xe2, 0x82]],
	["code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
	["five-byte sequence", [0xf8, 0x88, 0x80, 0x80, 0x80]],
];

interface RawSpec {
	name: string;
	body?: Body;
	/** null sends no Content-Type (the body must then be bytes). */
	contentType: string | null;
	stream?: boolean;
}

/** Whole-body cases for a route that takes a body (POST, PATCH). */
function wholeBodySpecs(operation: Operation): RawSpec[] {
	const base = operation.body ? baseValue(operation.body.schema) : {};
	const text = JSON.stringify(base);
	const withMember = (member: string) => (text === "{}" ? `{${member}}` : `${text.slice(0, -1)},${member}}`);
	const specs: RawSpec[] = [];
	const asJson = (name: string, body: Body) => specs.push({ name, body, contentType: "application/json" });

	if (operation.body?.required) {
		asJson("empty body", "");
		// hono reads a body that is not labelled JSON as {}: only refused where {} is not valid.
		if (schemaProblems({}, operation.body.schema).length > 0) {
			specs.push({ name: "no body, no Content-Type", body: new Uint8Array(), contentType: null });
			specs.push({ name: "no body, Content-Type text/plain", body: new Uint8Array(), contentType: "text/plain" });
		}
	}
	// An operation that takes no body ignores any well-formed one (Svix's resend): only malformed or oversized ones are bad.
	if (operation.body) {
		asJson("body: []", "[]");
		asJson("body: [valid body]", `[${text}]`);
		asJson("body: JSON string", '"a JSON string"');
		asJson("body: null", "null");
		asJson("body: 0", "0");
		asJson("body: false", "false");
	}
	asJson("body: 1 MB JSON string", JSON.stringify(HUGE_STRING));

	asJson("malformed: truncated", text.slice(0, -1));
	asJson("malformed: trailing comma", withMember('"corpus":1,'));
	asJson("malformed: NaN", withMember('"corpus":NaN'));
	asJson("malformed: Infinity", withMember('"corpus":-Infinity'));
	asJson("malformed: undefined", withMember('"corpus":undefined'));
	asJson("malformed: single quotes", withMember("'corpus':'x'"));
	asJson("malformed: unquoted key", withMember("corpus:1"));
	asJson("malformed: comment", `/* corpus */${text}`);
	asJson("malformed: two documents", `${text}${text}`);
	asJson("malformed: unterminated string", '{"corpus');
	asJson("malformed: lone brace", "{");
	asJson("malformed: extra closing brace", `${text}}`);
	asJson("malformed: raw control character in a string", withMember('"corpus":"a\u0001b"'));
	asJson("malformed: bad escape", withMember('"corpus":"\\x41"'));
	asJson("malformed: word", "undefined");
	asJson("malformed: NUL byte", `${text}\u0000`);

	const marked = markedBody(operation);
	const [before = "", after = ""] = marked.split(MARK);
	for (const [name, bytes] of BAD_UTF8) {
		asJson(`invalid UTF-8: ${name}`, concat(encoder.encode(before), Uint8Array.from(bytes), encoder.encode(after)));
	}
	const utf16 = new Uint8Array(text.length * 2);
	for (let index = 0; index < text.length; index++) utf16[index * 2] = text.charCodeAt(index) & 0xff;
	asJson("UTF-16LE encoded body", utf16);

	for (const contentType of [
		"text/plain",
		"application/x-www-form-urlencoded",
		"multipart/form-data; boundary=corpus",
		"application/xml",
		"text/json",
		"application/json-patch+json",
		"application/jsonx",
		"",
	]) {
		specs.push({ name: `Content-Type ${JSON.stringify(contentType)}`, body: text, contentType });
	}
	specs.push({ name: "no Content-Type", body: encoder.encode(text), contentType: null });
	const form = new URLSearchParams(
		Object.entries(isRecord(base) && Object.keys(base).length > 0 ? base : { corpus: 1 }).map(
			([key, value]): [string, string] => [key, typeof value === "string" ? value : JSON.stringify(value)],
		),
	).toString();
	if (form !== "")
		specs.push({
			name: "Content-Type application/x-www-form-urlencoded with a form body",
			body: form,
			contentType: "application/x-www-form-urlencoded",
		});

	const oversized = `{${" ".repeat(bodyLimit(operation.path) + 1024)}${text.slice(1)}`;
	asJson("oversized: valid JSON padded over the limit", oversized);
	specs.push({
		name: "oversized: streamed without Content-Length",
		body: oversized,
		contentType: "application/json",
		stream: true,
	});

	asJson("deep: 10,000 levels of [", "[".repeat(10_000));
	asJson("deep: 10,000 levels of objects", `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`);
	asJson(
		`deep: ${MAX_JSON_DEPTH + 1} levels of arrays`,
		`${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}`,
	);
	return specs;
}

function queryCandidates(parameter: Parameter): [string, string, boolean][] {
	const { schema } = parameter;
	const types = typesOf(schema) ?? [];
	const values: [string, string, boolean][] = [];
	const add = (name: string, value: string, random = false) => values.push([name, value, random]);
	if (types.includes("integer") || types.includes("number")) {
		for (const value of ["abc", "NaN", "Infinity", "-Infinity", "1e400", "true", "[]", "null", "💥", "5 5", "1,2"])
			add(`not a number ${JSON.stringify(value)}`, value);
		if (schema.minimum !== undefined) {
			add("minimum - 1", String(schema.minimum - 1));
			add("-1e300", "-1e300");
		}
		if (schema.maximum !== undefined) {
			add("maximum + 1", String(schema.maximum + 1));
			add("huge number", "9".repeat(400));
		}
		if (types.includes("integer") && !types.includes("number"))
			add("not an integer", String((schema.minimum ?? 0) + 0.5));
		draw(fc.string({ maxLength: 6 }), 4).forEach((value, index) => {
			add(`random string #${index + 1}`, value, true);
		});
	}
	if (types.includes("string")) {
		if (schema.maxLength !== undefined) {
			add("maxLength + 1", "c".repeat(schema.maxLength + 1));
			add("maxLength + 1 emoji", "😀".repeat(schema.maxLength + 1));
		}
		add("100,000 characters", "c".repeat(100_000));
		if (schema.minLength !== undefined && schema.minLength > 0) add("empty", "");
		if (schema.pattern !== undefined) {
			for (const value of ["a..b", "bad type!", "\u0000", "💥", "' OR '1'='1"]) {
				if (!new RegExp(schema.pattern).test(value)) add(`against pattern ${JSON.stringify(value)}`, value);
			}
			draw(randomUnicode, 3).forEach((value, index) => {
				add(`random unicode #${index + 1}`, value, true);
			});
		}
		if (schema.enum) {
			const first = String(schema.enum[0]);
			add("not in enum", "corpus-not-in-enum");
			add("enum value in upper case", first.toUpperCase());
			add("enum value with a space", ` ${first}`);
			add("empty", "");
		}
	}
	return values;
}

function headerCandidates(parameter: Parameter): [string, string][] {
	const { schema } = parameter;
	const values: [string, string][] = [];
	if (schema.minLength !== undefined && schema.minLength > 0) values.push(["empty", ""]);
	if (schema.maxLength !== undefined) {
		values.push(["maxLength + 1", "k".repeat(schema.maxLength + 1)]);
		values.push(["8 KiB", "k".repeat(8 * 1024)]);
	}
	return values;
}

/** Path segments, already encoded as sent, for a path parameter that names nothing. */
function pathCandidates(parameter: Parameter): [string, string, boolean][] {
	const { schema } = parameter;
	const segments: [string, string, boolean][] = [];
	const encoded = (name: string, value: string, random = false) =>
		segments.push([name, encodeURIComponent(value), random]);
	const raw = (name: string, segment: string) => segments.push([name, segment, false]);
	if (schema.maxLength !== undefined) encoded("maxLength + 1", "a".repeat(schema.maxLength + 1));
	encoded("10,000 characters", "a".repeat(10_000));
	encoded("10,000 emoji", "😀".repeat(10_000));
	for (const value of ["ünïcödé-ид-身份", "😀🔥", "\u202e\u200b", "\u0000", "\ufeff", " ", "null", "-1", "0"])
		encoded(`unicode ${JSON.stringify(value)}`, value);
	draw(randomUnicode, 3).forEach((value, index) => {
		encoded(`random unicode #${index + 1}`, value, true);
	});
	for (const value of [
		"' OR '1'='1",
		"1; DROP TABLE endpoints; --",
		'" OR ""="',
		"1 UNION SELECT hash FROM api_keys",
		"%",
		"_",
		"*",
		"../",
		"..",
	])
		encoded(`SQL / path ${JSON.stringify(value)}`, value);
	for (const segment of [
		"..",
		"../",
		"../..",
		"%2e%2e",
		"..%2F..%2Fetc%2Fpasswd",
		"%00",
		"%ZZ",
		"%E0%A4%A",
		"%C0%AF",
		"%FF",
	])
		raw(`raw ${segment}`, segment);
	return segments;
}

// ---------------------------------------------------------------------------
// The corpus

/** An id no resource has. */
export const MISSING_ID = "corpus_missing_0000";
const MISSING_TENANT = "ten_corpus_missing";
const ADMIN_PATHS = /^\/v1\/(tenants(\/|$)|health$)/;

export interface Corpus {
	cases: Case[];
	/** Generated values the local rules found valid: dropped. */
	dropped: number;
	/** Fixed cases the local rules found valid: bugs in the corpus. */
	notInvalid: { operation: string; name: string }[];
}

/** The corpus's cases that the local rules find valid, as `<operation> [<case>]`: each is a bug in the generator. */
export function casesFoundValid(operationList: readonly Operation[], corpus: Corpus): string[] {
	const byKey = new Map(operationList.map((operation) => [operation.key, operation]));
	return corpus.cases
		.filter((c) => {
			const operation = byKey.get(c.operation);
			return !operation || whyInvalid(operation, c).length === 0;
		})
		.map((c) => `${c.operation} [${c.name}]`);
}

/**
 * The whole corpus. `existing` gives, per operation key, path parameter
 * values that name real resources: body and query mutations of those
 * operations then reach the handler if validation lets them through. Other
 * path parameters get MISSING_ID.
 */
export function buildCorpus(
	operationList: readonly Operation[],
	existing: Record<string, Record<string, string>>,
): Corpus {
	draws = 0;
	const corpus: Corpus = { cases: [], dropped: 0, notInvalid: [] };
	// fetch resolves dot segments before sending, so `/v1/tenants/../portal-links` is a request to
	// `/v1/portal-links` and `/v1/tasks/../..` one to the dashboard at `/`: when that names another
	// operation outright, or leaves the API, the case is not a bad id.
	const literalPaths = new Set(
		operationList.filter((operation) => !operation.path.includes("{")).map((operation) => operation.key),
	);
	const resolvesToAnother = (method: string, url: string) => {
		const { pathname } = new URL(url, "http://edgehook.test");
		const inTheApi = pathname.startsWith("/v1/") || pathname.startsWith("/api/v1/");
		return !inTheApi || literalPaths.has(`${method} ${pathname}`);
	};
	for (const operation of operationList) {
		const pathParameters = operation.parameters.filter((parameter) => parameter.in === "path");
		const known = existing[operation.key] ?? {};
		const missing = pathParameters.filter((parameter) => known[parameter.name] === undefined);
		if (operation.body && missing.length > 0)
			throw new Error(
				`${operation.key} takes a body but ${missing.map((parameter) => parameter.name).join(", ")} names no existing resource: add it to the ids the test creates`,
			);
		const fill = (override?: [string, string]) =>
			operation.path.replace(/\{([^}]+)\}/g, (_match, name: string) =>
				override?.[0] === name ? override[1] : encodeURIComponent(known[name] ?? MISSING_ID),
			);
		const missingReason =
			missing.length > 0 ? `${missing.map((parameter) => parameter.name).join(", ")} names nothing` : undefined;
		const baseText = operation.body ? JSON.stringify(baseValue(operation.body.schema)) : undefined;
		const validBody: Partial<Case> = baseText
			? { body: baseText, headers: { "content-type": "application/json" } }
			: {};

		const add = (name: string, parts: Partial<Case>) => {
			const c: Case = {
				operation: operation.key,
				name,
				method: operation.method,
				url: fill(),
				headers: {},
				query: [],
				...(missingReason ? { reason: missingReason } : {}),
				...parts,
			};
			if (whyInvalid(operation, c).length > 0) corpus.cases.push(c);
			else if (c.random) corpus.dropped++;
			else corpus.notInvalid.push({ operation: c.operation, name: c.name });
		};

		if (operation.body) {
			const schema = operation.body.schema;
			const base = baseValue(schema);
			const problems = schemaProblems(base, schema);
			if (problems.length > 0)
				throw new Error(
					`the base body of ${operation.key} is not valid (${problems.join("; ")}): add an entry to OVERRIDES in corpus/schema.ts`,
				);
			for (const slot of slotsOf(schema, base, (value) => value)) {
				for (const spec of slotMutations(slot)) {
					add(spec.name, {
						body: spec.body,
						headers: { "content-type": "application/json" },
						...(spec.random ? { random: true } : {}),
					});
				}
			}
		}
		if (operation.method === "POST" || operation.method === "PATCH" || operation.method === "PUT") {
			for (const spec of wholeBodySpecs(operation)) {
				add(spec.name, {
					...(spec.body === undefined ? {} : { body: spec.body }),
					headers: spec.contentType === null ? {} : { "content-type": spec.contentType },
					...(spec.stream ? { stream: true } : {}),
				});
			}
		}
		for (const parameter of operation.parameters) {
			if (parameter.in === "query") {
				for (const [name, value, random] of queryCandidates(parameter)) {
					add(`query ${parameter.name}: ${name}`, {
						url: `${fill()}?${parameter.name}=${encodeURIComponent(value)}`,
						query: [[parameter.name, value]],
						...(random ? { random: true } : {}),
					});
				}
				const valid = String(baseValue(parameter.schema));
				add(`query ${parameter.name}: given twice`, {
					url: `${fill()}?${parameter.name}=${encodeURIComponent(valid)}&${parameter.name}=${encodeURIComponent(valid)}`,
					query: [
						[parameter.name, valid],
						[parameter.name, valid],
					],
				});
			}
			if (parameter.in === "header") {
				for (const [name, value] of headerCandidates(parameter)) {
					add(`header ${parameter.name}: ${name}`, {
						...validBody,
						headers: { ...validBody.headers, [parameter.name.toLowerCase()]: value },
					});
				}
			}
			if (parameter.in === "path" && !operation.createsAtPath) {
				for (const [name, segment, random] of pathCandidates(parameter)) {
					const url = operation.path.replace(/\{([^}]+)\}/g, (_match, other: string) =>
						other === parameter.name ? segment : MISSING_ID,
					);
					if (resolvesToAnother(operation.method, url)) continue;
					add(`path ${parameter.name}: ${name}`, {
						url,
						...validBody,
						reason: `path ${parameter.name} names nothing`,
						allowed: [404, 422],
						...(random ? { random: true } : {}),
					});
				}
			}
		}

		const unauthorized = (name: string, authorization: string | null) =>
			add(name, { ...validBody, authorization, reason: "no valid API key", allowed: [401] });
		unauthorized("auth: no Authorization header", null);
		unauthorized("auth: wrong bearer key", "Bearer wrong-key");
		if (operation.key === "POST /v1/events" || operation.key === "POST /v1/webhooks") {
			unauthorized("auth: Basic scheme", `Basic ${btoa("test-admin-key:")}`);
			unauthorized("auth: key without scheme", "test-admin-key");
			unauthorized("auth: Bearer and nothing", "Bearer");
			unauthorized("auth: unknown tenant-shaped key", "Bearer ehk_corpus_not_a_real_key_0000000000");
		}
		// The Svix face names the tenant in its paths, not in X-Tenant-Id.
		if (operation.path.startsWith("/v1/") && !ADMIN_PATHS.test(operation.path)) {
			add("X-Tenant-Id names no tenant", {
				...validBody,
				headers: { ...validBody.headers, "x-tenant-id": MISSING_TENANT },
				reason: "no such tenant",
				allowed: [404],
			});
		}
	}
	return corpus;
}
