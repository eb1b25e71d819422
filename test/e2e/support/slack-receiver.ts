/**
 * A stand-in for a Slack incoming-webhook URL. The limits are written here
 * from Slack's Block Kit reference (blocks, block elements, composition
 * objects) and its incoming-webhook and chat.postMessage pages, not taken from
 * src/, so the check is independent of the code it checks:
 *
 * - a message holds at most 50 blocks, and its top-level `text` (the
 *   notification fallback) is required here and kept within the 4,000
 *   characters Slack advises;
 * - header: a plain_text object of at most 150 characters;
 * - section: `text` (at most 3,000) or `fields` (at most 10, each at most
 *   2,000), or both;
 * - context: at most 10 elements (text objects or images);
 * - actions: at most 25 elements; a button's text is plain_text of at most 75,
 *   its url at most 3,000, its action_id at most 255;
 * - a text object is plain_text or mrkdwn with a non-empty text of at most 3,000;
 * - block_id at most 255; fields a block type does not define are refused.
 *
 * Slack answers 200 "ok" to a message it posts and 400 with a short error
 * code (`invalid_blocks`, `no_text`, `invalid_payload`) to one it refuses.
 */

import { ChatReceiver, type ChatService, checkString, isRecord } from "./chat-receiver";

export const SLACK_LIMITS = {
	blocks: 50,
	text: 4000,
	headerText: 150,
	sectionText: 3000,
	sectionFields: 10,
	sectionFieldText: 2000,
	contextElements: 10,
	actionsElements: 25,
	buttonText: 75,
	buttonUrl: 3000,
	actionId: 255,
	textObject: 3000,
	blockId: 255,
} as const;

const BLOCK_KEYS: Record<string, readonly string[]> = {
	header: ["type", "text", "block_id"],
	section: ["type", "text", "fields", "accessory", "block_id", "expand"],
	context: ["type", "elements", "block_id"],
	actions: ["type", "elements", "block_id"],
	divider: ["type", "block_id"],
};

function unknownKeys(value: Record<string, unknown>, allowed: readonly string[], where: string): string[] {
	return Object.keys(value)
		.filter((key) => !allowed.includes(key))
		.map((key) => `${where} has a field Slack does not define: ${key}`);
}

function textObject(value: unknown, where: string, max: number, plainOnly = false): string[] {
	if (!isRecord(value)) return [`${where} must be a text object`];
	const problems: string[] = [];
	if (value.type === "plain_text") {
		problems.push(...unknownKeys(value, ["type", "text", "emoji"], where));
	} else if (value.type === "mrkdwn" && !plainOnly) {
		problems.push(...unknownKeys(value, ["type", "text", "verbatim"], where));
	} else {
		problems.push(`${where}.type must be ${plainOnly ? "plain_text" : "plain_text or mrkdwn"}, is ${value.type}`);
	}
	problems.push(...checkString(value.text, `${where}.text`, 1, Math.min(max, SLACK_LIMITS.textObject)));
	return problems;
}

function button(value: unknown, where: string): string[] {
	if (!isRecord(value) || value.type !== "button") return [`${where} must be a button`];
	const problems = unknownKeys(
		value,
		["type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"],
		where,
	);
	problems.push(...textObject(value.text, `${where}.text`, SLACK_LIMITS.buttonText, true));
	if (value.url !== undefined) {
		problems.push(...checkString(value.url, `${where}.url`, 1, SLACK_LIMITS.buttonUrl));
		if (typeof value.url === "string" && !/^https?:\/\//.test(value.url)) {
			problems.push(`${where}.url must be an http(s) URL`);
		}
	}
	if (value.action_id !== undefined) {
		problems.push(...checkString(value.action_id, `${where}.action_id`, 1, SLACK_LIMITS.actionId));
	}
	return problems;
}

function block(value: unknown, where: string): string[] {
	if (!isRecord(value)) return [`${where} must be an object`];
	const type = typeof value.type === "string" ? value.type : "";
	const allowed = BLOCK_KEYS[type];
	if (allowed === undefined) return [`${where}.type ${JSON.stringify(value.type)} is not a block type expected here`];
	const problems = unknownKeys(value, allowed, where);
	if (value.block_id !== undefined) {
		problems.push(...checkString(value.block_id, `${where}.block_id`, 1, SLACK_LIMITS.blockId));
	}
	switch (type) {
		case "header":
			problems.push(...textObject(value.text, `${where}.text`, SLACK_LIMITS.headerText, true));
			break;
		case "section": {
			if (value.text === undefined && value.fields === undefined) {
				problems.push(`${where} needs text or fields`);
			}
			if (value.text !== undefined) {
				problems.push(...textObject(value.text, `${where}.text`, SLACK_LIMITS.sectionText));
			}
			if (value.fields !== undefined) {
				if (!Array.isArray(value.fields) || value.fields.length === 0) {
					problems.push(`${where}.fields must be a non-empty array`);
				} else {
					if (value.fields.length > SLACK_LIMITS.sectionFields) {
						problems.push(`${where}.fields has ${value.fields.length} items, at most ${SLACK_LIMITS.sectionFields}`);
					}
					value.fields.forEach((field: unknown, index) => {
						problems.push(...textObject(field, `${where}.fields[${index}]`, SLACK_LIMITS.sectionFieldText));
					});
				}
			}
			break;
		}
		case "context": {
			if (!Array.isArray(value.elements) || value.elements.length === 0) {
				problems.push(`${where}.elements must be a non-empty array`);
				break;
			}
			if (value.elements.length > SLACK_LIMITS.contextElements) {
				problems.push(`${where}.elements has ${value.elements.length} items, at most ${SLACK_LIMITS.contextElements}`);
			}
			value.elements.forEach((element: unknown, index) => {
				if (isRecord(element) && element.type === "image") return;
				problems.push(...textObject(element, `${where}.elements[${index}]`, SLACK_LIMITS.textObject));
			});
			break;
		}
		case "actions": {
			if (!Array.isArray(value.elements) || value.elements.length === 0) {
				problems.push(`${where}.elements must be a non-empty array`);
				break;
			}
			if (value.elements.length > SLACK_LIMITS.actionsElements) {
				problems.push(`${where}.elements has ${value.elements.length} items, at most ${SLACK_LIMITS.actionsElements}`);
			}
			value.elements.forEach((element: unknown, index) => {
				problems.push(...button(element, `${where}.elements[${index}]`));
			});
			break;
		}
	}
	return problems;
}

/** Every documented rule the message breaks; empty when Slack would post it. */
export function slackProblems(body: unknown): string[] {
	if (!isRecord(body)) return ["the message must be a JSON object"];
	const problems: string[] = [];
	if (body.text === undefined) problems.push("no_text: the top-level text is missing");
	else problems.push(...checkString(body.text, "text", 1, SLACK_LIMITS.text));
	if (body.blocks !== undefined) {
		if (!Array.isArray(body.blocks)) {
			problems.push("blocks must be an array");
		} else {
			if (body.blocks.length > SLACK_LIMITS.blocks) {
				problems.push(`blocks has ${body.blocks.length} items, at most ${SLACK_LIMITS.blocks}`);
			}
			body.blocks.forEach((item: unknown, index) => {
				problems.push(...block(item, `blocks[${index}]`));
			});
		}
	}
	return problems;
}

export const SLACK: ChatService = {
	name: "Slack",
	validate: slackProblems,
	accepted: { status: 200, body: "ok" },
	refused: (problems) => ({
		status: 400,
		body: problems.some((problem) => problem.startsWith("no_text")) ? "no_text" : "invalid_blocks",
	}),
};

/** A Slack stand-in on a path shaped like an incoming-webhook URL's. */
export function startSlackReceiver(): Promise<ChatReceiver> {
	return ChatReceiver.start(SLACK, "/services/T0E2E/B0E2E/e2eSlackHookToken");
}

// The helpers for reading what a receiver got.

export interface SlackTextObject {
	type: string;
	text: string;
}

export interface SlackBlockSeen {
	type: string;
	text?: SlackTextObject;
	fields?: SlackTextObject[];
	elements?: Array<{ type: string; text?: unknown; url?: unknown }>;
}

export interface SlackMessageSeen {
	text: string;
	blocks: SlackBlockSeen[];
}

/** The received body as a Slack message, once `slackProblems` found it valid. */
export function asSlackMessage(json: unknown): SlackMessageSeen {
	const problems = slackProblems(json);
	if (problems.length > 0 || !isRecord(json)) {
		throw new Error(`not a valid Slack message: ${problems.join("; ")}`);
	}
	return json as unknown as SlackMessageSeen;
}
