import openapi from "../../../docs/openapi.json";

/*
 * The subset of OpenAPI 3.1 / JSON Schema that docs/openapi.json uses, read
 * from the committed document: the operations with their parameters and
 * request bodies, a validator for the keywords the document contains, and a
 * generator of the smallest valid value of a schema. The bad-input corpus is
 * built from these, so a route added to the document is covered without
 * touching the test.
 */

export interface JsonSchema {
	$ref?: string;
	type?: string | string[];
	properties?: Record<string, JsonSchema>;
	required?: string[];
	additionalProperties?: boolean | JsonSchema;
	items?: JsonSchema;
	enum?: unknown[];
	minLength?: number;
	maxLength?: number;
	pattern?: string;
	minimum?: number;
	maximum?: number;
	minItems?: number;
	maxItems?: number;
	example?: unknown;
}

export interface Parameter {
	name: string;
	in: "path" | "query" | "header" | "cookie";
	required?: boolean;
	schema: JsonSchema;
}

export interface Operation {
	/** "METHOD /path/{param}", as the document spells it. */
	key: string;
	method: string;
	path: string;
	parameters: Parameter[];
	body?: { required: boolean; schema: JsonSchema };
	/** A PUT that answers 201: it creates whatever its path names, so no path value there names nothing. */
	createsAtPath: boolean;
}

interface OperationObject {
	parameters?: Parameter[];
	requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> };
	responses?: Record<string, unknown>;
}

interface Document {
	paths: Record<string, Record<string, OperationObject>>;
	components: { schemas: Record<string, JsonSchema> };
}

let document = openapi as unknown as Document;

/** Builds the corpus from another committed description (the Svix face's) in this test file. */
export function useDocument(other: unknown): void {
	document = other as Document;
}

/** Every operation of the committed document. */
export function operations(): Operation[] {
	return Object.entries(document.paths).flatMap(([path, item]) =>
		Object.entries(item).map(([method, operation]): Operation => {
			const json = operation.requestBody?.content["application/json"];
			const upper = method.toUpperCase();
			return {
				key: `${upper} ${path}`,
				method: upper,
				path,
				parameters: operation.parameters ?? [],
				createsAtPath: upper === "PUT" && operation.responses?.["201"] !== undefined,
				...(json ? { body: { required: operation.requestBody?.required === true, schema: json.schema } } : {}),
			};
		}),
	);
}

export function resolve(schema: JsonSchema): JsonSchema {
	let current = schema;
	for (let hops = 0; current.$ref !== undefined; hops++) {
		const name = current.$ref.replace("#/components/schemas/", "");
		const target = document.components.schemas[name];
		if (!target || hops > 20) throw new Error(`cannot resolve ${current.$ref}`);
		current = target;
	}
	return current;
}

/** The JSON types a schema allows, or undefined when it allows any value. */
export function typesOf(schema: JsonSchema): string[] | undefined {
	const { type } = resolve(schema);
	if (type === undefined) return undefined;
	return Array.isArray(type) ? type : [type];
}

/** The JSON types a value has: an integral number is both "integer" and "number". */
export function jsonTypesOf(value: unknown): string[] {
	if (value === null) return ["null"];
	if (Array.isArray(value)) return ["array"];
	switch (typeof value) {
		case "number":
			return Number.isInteger(value) ? ["integer", "number"] : ["number"];
		case "string":
			return ["string"];
		case "boolean":
			return ["boolean"];
		case "object":
			return ["object"];
		default:
			return [typeof value];
	}
}

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function join(at: string, key: string | number): string {
	return at === "" ? String(key) : `${at}.${key}`;
}

/**
 * What is wrong with `value` under `schema`; empty when it is valid. Lengths
 * are judged so that "too long" means too long in both code points (JSON
 * Schema) and UTF-16 units (zod), and "too short" in both as well; patterns
 * run without the u flag, as zod runs them.
 */
export function schemaProblems(value: unknown, raw: JsonSchema, at = ""): string[] {
	const schema = resolve(raw);
	const label = at === "" ? "body" : at;
	const types = typesOf(schema);
	if (types && !jsonTypesOf(value).some((type) => types.includes(type))) {
		return [`${label}: ${jsonTypesOf(value)[0]} is not ${types.join(" or ")}`];
	}
	if (schema.enum && !schema.enum.some((allowed) => allowed === value)) return [`${label}: not one of the enum`];
	const problems: string[] = [];
	if (typeof value === "string") {
		if (schema.minLength !== undefined && value.length < schema.minLength) problems.push(`${label}: too short`);
		if (schema.maxLength !== undefined && [...value].length > schema.maxLength) problems.push(`${label}: too long`);
		if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
			problems.push(`${label}: does not match ${schema.pattern}`);
	}
	if (typeof value === "number") {
		if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${label}: below ${schema.minimum}`);
		if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${label}: above ${schema.maximum}`);
	}
	if (Array.isArray(value)) {
		if (schema.minItems !== undefined && value.length < schema.minItems) problems.push(`${label}: too few items`);
		if (schema.maxItems !== undefined && value.length > schema.maxItems) problems.push(`${label}: too many items`);
		if (schema.items) {
			const items = schema.items;
			value.forEach((item, index) => {
				problems.push(...schemaProblems(item, items, join(at, index)));
			});
		}
	}
	if (isRecord(value)) {
		const properties = schema.properties ?? {};
		for (const name of schema.required ?? []) {
			if (!Object.hasOwn(value, name)) problems.push(`${join(at, name)}: missing`);
		}
		for (const [name, item] of Object.entries(value)) {
			const property = Object.hasOwn(properties, name) ? properties[name] : undefined;
			if (property) problems.push(...schemaProblems(item, property, join(at, name)));
			else if (schema.additionalProperties === false) problems.push(`${join(at, name)}: unknown field`);
			else if (isRecord(schema.additionalProperties))
				problems.push(...schemaProblems(item, schema.additionalProperties, join(at, name)));
		}
	}
	return problems;
}

/**
 * Values for fields the generator cannot make valid from the schema alone.
 * `url` has no pattern in the document but must be an https URL the
 * deployment accepts.
 */
export const OVERRIDES: Record<string, unknown> = { url: "https://example.com/hook" };

const STRING_CANDIDATES = ["corpus", "a", "a.b", "user.created", "X-Corpus-Header", "corpus value"];

function validString(schema: JsonSchema): string {
	const candidates = [...STRING_CANDIDATES, "a".repeat(Math.max(schema.minLength ?? 1, 1))];
	const found = candidates.find((candidate) => schemaProblems(candidate, schema).length === 0);
	if (found === undefined)
		throw new Error(`no valid string for ${JSON.stringify(schema)}: add an entry to OVERRIDES in corpus/schema.ts`);
	return found;
}

/**
 * The smallest valid value of a schema: required properties only, the
 * schema's `example` where it has a valid one, else a value that satisfies
 * type, pattern, bounds and enum. `name` is the property it is for, looked
 * up in OVERRIDES first.
 */
export function baseValue(raw: JsonSchema, name?: string): unknown {
	if (name !== undefined && Object.hasOwn(OVERRIDES, name)) return structuredClone(OVERRIDES[name]);
	const schema = resolve(raw);
	if (schema.example !== undefined && schemaProblems(schema.example, schema).length === 0)
		return structuredClone(schema.example);
	if (schema.enum) return schema.enum.find((value) => value !== null) ?? null;
	const type = typesOf(schema)?.find((candidate) => candidate !== "null");
	switch (type) {
		case "object": {
			const properties = schema.properties ?? {};
			return Object.fromEntries(
				(schema.required ?? []).map((key) => {
					const property = properties[key];
					if (!property) throw new Error(`required property ${key} has no schema`);
					return [key, baseValue(property, key)];
				}),
			);
		}
		case "array": {
			const items = schema.items ?? {};
			return Array.from({ length: schema.minItems ?? 0 }, () => baseValue(items));
		}
		case "string":
			return validString(schema);
		case "integer":
		case "number":
			return schema.minimum ?? Math.min(0, schema.maximum ?? 0);
		case "boolean":
			return true;
		case undefined:
			return typesOf(schema) === undefined ? "any" : null;
		default:
			throw new Error(`cannot generate a value of type ${type}`);
	}
}

/** A place in a body where a value goes, with the body that holds `value` there and everything else valid. */
export interface Slot {
	/** Dotted path, "" for the whole body. */
	path: string;
	schema: JsonSchema;
	/** The base value at this place (generated when the base body has none). */
	current: unknown;
	put(value: unknown): unknown;
	/** The body without this property; only for required properties. */
	remove?: () => unknown;
}

/** Key used to reach the value schema of a map (`additionalProperties: {schema}`). */
export const MAP_KEY = "corpus_key";

/** Every slot of a body: the body itself, each property (optional ones too), each map value and array item. */
export function slotsOf(raw: JsonSchema, current: unknown, put: (value: unknown) => unknown, at = ""): Slot[] {
	const schema = resolve(raw);
	const slots: Slot[] = [{ path: at, schema, current, put }];
	const types = typesOf(schema) ?? [];
	if (types.includes("object")) {
		const object = isRecord(current) ? current : (baseValue(schema) as Record<string, unknown>);
		for (const [key, child] of Object.entries(schema.properties ?? {})) {
			const required = schema.required?.includes(key) === true;
			const inner = slotsOf(
				child,
				Object.hasOwn(object, key) ? object[key] : baseValue(child, key),
				(value) => put({ ...object, [key]: value }),
				join(at, key),
			);
			const [own] = inner;
			if (own && required) {
				own.remove = () => {
					const { [key]: _removed, ...rest } = object;
					return put(rest);
				};
			}
			slots.push(...inner);
		}
		const map = schema.additionalProperties;
		if (isRecord(map) && typesOf(map) !== undefined) {
			slots.push(...slotsOf(map, baseValue(map), (value) => put({ ...object, [MAP_KEY]: value }), join(at, MAP_KEY)));
		}
	}
	if (types.includes("array") && schema.items) {
		const items = schema.items;
		const array = Array.isArray(current) && current.length > 0 ? current : [baseValue(items)];
		slots.push(...slotsOf(items, array[0], (value) => put([value, ...array.slice(1)]), join(at, 0)));
	}
	return slots;
}
