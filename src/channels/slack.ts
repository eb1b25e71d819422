import { escapeAndTruncate, importantFields, truncate } from "./fields";
import type { NotificationInput } from "./input";

// Block Kit limits (docs.slack.dev, Block Kit reference: blocks, block elements,
// composition objects; chat.postMessage for the top-level text).
export const SLACK_MAX_BLOCKS = 50;
export const SLACK_HEADER_TEXT_MAX = 150;
export const SLACK_SECTION_TEXT_MAX = 3000;
export const SLACK_SECTION_FIELDS_MAX = 10;
export const SLACK_FIELD_TEXT_MAX = 2000;
export const SLACK_CONTEXT_ELEMENTS_MAX = 10;
/** A text object's own limit, which context elements are held to. */
export const SLACK_TEXT_OBJECT_MAX = 3000;
export const SLACK_BUTTON_TEXT_MAX = 75;
export const SLACK_BUTTON_URL_MAX = 3000;
/** Slack truncates longer top-level text; ours is a short notification fallback far below it. */
export const SLACK_TEXT_MAX = 4000;

/** How much of a data key a field may spend on its bold name before the value. */
const FIELD_NAME_MAX = 200;
/** An id longer than this is not one of ours; it is cut so the fallback text stays short. */
const ID_MAX = 100;

export interface SlackPlainText {
	type: "plain_text";
	text: string;
}

export interface SlackMrkdwn {
	type: "mrkdwn";
	text: string;
	/** true: Slack shows the text as written, without turning URLs, channel names or mentions into links. */
	verbatim: true;
}

export interface SlackHeaderBlock {
	type: "header";
	text: SlackPlainText;
}

export interface SlackSectionBlock {
	type: "section";
	fields: SlackMrkdwn[];
}

export interface SlackContextBlock {
	type: "context";
	elements: SlackMrkdwn[];
}

export interface SlackButton {
	type: "button";
	text: SlackPlainText;
	url: string;
	action_id: string;
}

export interface SlackActionsBlock {
	type: "actions";
	elements: SlackButton[];
}

export type SlackBlock = SlackHeaderBlock | SlackSectionBlock | SlackContextBlock | SlackActionsBlock;

export interface SlackMessage {
	/** Shown in notifications and by clients that cannot draw blocks. */
	text: string;
	blocks: SlackBlock[];
}

/**
 * Slack reads `&`, `<` and `>` as control characters in mrkdwn (`<!channel>`,
 * `<url|label>`); escaped, data can neither mention anyone nor make a link.
 */
function escapeMrkdwn(codePoint: string): string {
	if (codePoint === "&") return "&amp;";
	if (codePoint === "<") return "&lt;";
	if (codePoint === ">") return "&gt;";
	return codePoint;
}

/** Text made safe for mrkdwn, whole: what a template calls as `$escapeSlack`. */
export function escapeSlack(text: string): string {
	return escapeAndTruncate(text, Number.POSITIVE_INFINITY, escapeMrkdwn);
}

/** Data made safe for mrkdwn and cut to `limit` as Slack counts it (after escaping). */
export function slackText(text: string, limit: number): string {
	return escapeAndTruncate(text, limit, escapeMrkdwn);
}

function mrkdwn(text: string): SlackMrkdwn {
	return { type: "mrkdwn", text, verbatim: true };
}

function fieldText(name: string, value: string): string {
	const label = `*${slackText(name, FIELD_NAME_MAX)}*\n`;
	return label + slackText(value, SLACK_FIELD_TEXT_MAX - label.length);
}

/**
 * The built-in Slack layout of an event: its type as the header, its most
 * important data fields, the event id and time, and a link to the delivery.
 */
export function slackMessage(input: NotificationInput): SlackMessage {
	const { envelope, deliveryUrl } = input;
	const type = truncate(envelope.type, SLACK_HEADER_TEXT_MAX);
	const blocks: SlackBlock[] = [{ type: "header", text: { type: "plain_text", text: type } }];

	const fields = importantFields(envelope.data, SLACK_SECTION_FIELDS_MAX);
	// A section needs at least one field; an event without data gets none.
	if (fields.length > 0) {
		blocks.push({ type: "section", fields: fields.map((field) => mrkdwn(fieldText(field.name, field.value))) });
	}

	blocks.push({
		type: "context",
		elements: [
			mrkdwn(`*Event* ${slackText(envelope.id, SLACK_TEXT_OBJECT_MAX - 8)}`),
			mrkdwn(`*Time* ${slackText(envelope.timestamp, SLACK_TEXT_OBJECT_MAX - 7)}`),
		],
	});

	// A cut URL would lead nowhere, so a too-long one loses the button instead.
	if (deliveryUrl !== null && deliveryUrl.length <= SLACK_BUTTON_URL_MAX) {
		blocks.push({
			type: "actions",
			elements: [
				{
					type: "button",
					text: { type: "plain_text", text: "View delivery" },
					url: deliveryUrl,
					action_id: "view_delivery",
				},
			],
		});
	}

	return {
		text: `${slackText(type, SLACK_HEADER_TEXT_MAX)} event ${slackText(envelope.id, ID_MAX)}`,
		blocks,
	};
}
