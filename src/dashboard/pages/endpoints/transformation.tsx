import { MAX_TRANSFORMATION_LENGTH } from "../../../channels/transform";
import { defaultTestPayload, TEST_EVENT_TYPE } from "../../../routes/webhooks/activity";
import type { ApiCaller } from "../../api";
import { ActionForm, Field, type FieldErrors, Notice, pretty } from "../../components";
import { single } from "../../context";
import { endpointPath } from "../../paths";
import type { Session } from "../../session";
import { parseObject } from "../event-types";
import { type Endpoint, type EventType, webhookPath } from "./shared";

/** The try form's fields as typed, so the answer shows next to what produced it. */
export interface TrialValues {
	type: string;
	data: string;
	transformation: string;
}

/** What the try form got back: the body that would be sent, or that nothing would be. */
export type TrialOutcome = { dropped: true } | { dropped: false; body: unknown };

export interface TrialState {
	values: TrialValues;
	errors: FieldErrors;
	outcome?: TrialOutcome;
}

/** The try form's controls, by the API field their problems are about. */
const TRIAL_CONTROLS: Record<string, keyof TrialValues> = {
	"event.type": "type",
	"event.data": "data",
	event: "data",
	transformation: "transformation",
};

/** Prefixed so they never share an id with the test send's controls on the same page. */
const CONTROL_NAMES: Record<keyof TrialValues, string> = {
	type: "try_type",
	data: "try_data",
	transformation: "try_transformation",
};

function defaultValues(endpoint: Endpoint): TrialValues {
	return { type: TEST_EVENT_TYPE, data: pretty(defaultTestPayload(endpoint.id)), transformation: "" };
}

export function trialValuesOf(fields: Record<string, string | string[]>): TrialValues {
	return {
		type: single(fields, CONTROL_NAMES.type).trim(),
		data: single(fields, CONTROL_NAMES.data),
		transformation: single(fields, CONTROL_NAMES.transformation),
	};
}

/** Runs the endpoint's transformation (or the one typed) on the typed event, through the API; nothing is sent. */
export async function runTrial(api: ApiCaller, endpointId: string, values: TrialValues): Promise<TrialState> {
	const data = parseObject(values.data);
	if ("problem" in data) return { values, errors: { try_data: data.problem } };
	const tried = await api.send<TrialOutcome>("POST", webhookPath(endpointId, "/transformation/test"), {
		event: { type: values.type, data: data.value ?? {} },
		...(values.transformation.trim() === "" ? {} : { transformation: values.transformation }),
	});
	if (tried.ok) return { values, errors: {}, outcome: tried.data };
	const errors: FieldErrors = {};
	// Nothing typed: the problem is with what the endpoint already uses, which the message must say.
	const whose = values.transformation.trim() === "" ? "The endpoint's own transformation or template: " : "";
	for (const [path, message] of Object.entries(tried.fields)) {
		const field = TRIAL_CONTROLS[path] ?? "transformation";
		const control = CONTROL_NAMES[field];
		const text = field === "transformation" ? `${whose}${message}` : message;
		errors[control] = errors[control] ? `${errors[control]}; ${text}` : text;
	}
	if (Object.keys(errors).length === 0) errors[CONTROL_NAMES.transformation] = `${whose}${tried.message}`;
	return { values, errors };
}

function Outcome(props: { outcome: TrialOutcome | undefined }) {
	const { outcome } = props;
	if (outcome === undefined) return null;
	if (outcome.dropped) {
		return (
			<div id="transformation-output">
				<Notice>Dropped: the delivery would be skipped, and nothing sent.</Notice>
			</div>
		);
	}
	return (
		<div id="transformation-output">
			<h4>What would be sent</h4>
			<pre>{pretty(outcome.body)}</pre>
		</div>
	);
}

/** The endpoint's transformation, and for a session that may post, a form to try one on an event. */
export function TransformationSection(props: {
	endpoint: Endpoint;
	tenantId: string;
	readOnly: boolean;
	catalog: readonly EventType[];
	session: Session;
	trial?: TrialState;
}) {
	const { endpoint } = props;
	const values = props.trial?.values ?? defaultValues(endpoint);
	const errors = props.trial?.errors ?? {};
	const fallback =
		endpoint.channel === "webhook"
			? "None: each event is sent as it is."
			: "None: your template for the event type, else the channel's own layout.";
	return (
		<>
			{endpoint.transformation === null ? (
				<p class="muted">{fallback}</p>
			) : (
				<pre id="saved-transformation">{endpoint.transformation}</pre>
			)}
			{/* It sends nothing, but it is a form that posts, and a read-only portal posts nothing. */}
			{props.readOnly ? null : (
				<section aria-labelledby="try-heading">
					<h3 id="try-heading">Try the transformation</h3>
					<p class="hint">
						Shows what this endpoint would be sent for an event, without sending anything or recording a delivery.
					</p>
					<ActionForm
						session={props.session}
						action={endpointPath(props.tenantId, endpoint.id, "/transformation/test")}
						class="stack"
					>
						<Field
							label="Event type to try"
							name={CONTROL_NAMES.type}
							hint="Any type; the catalog's and those sent recently are suggested."
							errors={errors}
						>
							{(described) => (
								<>
									<input
										type="text"
										name={CONTROL_NAMES.type}
										value={values.type}
										list="try-type-names"
										required
										{...described}
									/>
									<datalist id="try-type-names">
										{props.catalog.map((type) => (
											<option value={type.name} />
										))}
									</datalist>
								</>
							)}
						</Field>
						<Field
							label="Payload to try (JSON)"
							name={CONTROL_NAMES.data}
							hint="The event's data: a JSON object."
							errors={errors}
						>
							{(described) => (
								<textarea name={CONTROL_NAMES.data} spellcheck={false} {...described}>
									{values.data}
								</textarea>
							)}
						</Field>
						<Field
							label="Expression to try (JSONata)"
							name={CONTROL_NAMES.transformation}
							hint="Optional. Empty: the saved transformation, else what the endpoint uses without one."
							errors={errors}
						>
							{(described) => (
								<textarea
									name={CONTROL_NAMES.transformation}
									spellcheck={false}
									maxlength={MAX_TRANSFORMATION_LENGTH}
									{...described}
								>
									{values.transformation}
								</textarea>
							)}
						</Field>
						<div>
							<button type="submit">Try it</button>
						</div>
					</ActionForm>
					<Outcome outcome={props.trial?.outcome} />
				</section>
			)}
		</>
	);
}
