import { parseSender } from "../../channels/email-send";
import { type Channel, endpointUrlProblem } from "../../channels/targets";
import { transformationProblem } from "../../channels/transform";
import { type FieldProblem, validationFailed } from "../validation";

/** Where an endpoint sends, as it will be stored: after a create, or a patch merged over the stored row. */
export interface EndpointTarget {
	channel: Channel;
	url: string | null;
	to: readonly string[] | null;
	transformation: string | null;
}

/**
 * Checks the fields that depend on each other (a channel and its target)
 * and the transformation's syntax; throws a 422 naming every problem.
 */
export function assertEndpointTarget(target: EndpointTarget, env: Pick<Env, "ENVIRONMENT" | "EMAIL_FROM">): void {
	const problems: FieldProblem[] = [];
	if (target.channel === "email") {
		if (target.url !== null) problems.push({ field: "url", message: "must be left out for the email channel" });
		if (target.to === null) problems.push({ field: "to", message: "is required for the email channel" });
		if (parseSender(env.EMAIL_FROM) === null) {
			problems.push({
				field: "channel",
				message:
					env.EMAIL_FROM.trim() === ""
						? "email needs a sender: this deployment has no EMAIL_FROM configured"
						: "email needs a sender: this deployment's EMAIL_FROM is not an address",
			});
		}
	} else {
		if (target.to !== null) problems.push({ field: "to", message: "is only for the email channel" });
		if (target.url === null) problems.push({ field: "url", message: "is required" });
		else {
			const problem = endpointUrlProblem(target.channel, target.url, env.ENVIRONMENT);
			if (problem !== null) problems.push({ field: "url", message: problem });
		}
	}
	if (target.transformation !== null) {
		const problem = transformationProblem(target.transformation);
		if (problem !== null) problems.push({ field: "transformation", message: problem });
	}
	if (problems.length > 0) throw validationFailed(problems);
}
