import { parseSender } from "../../channels/email-send";
import { type Channel, endpointUrlProblem } from "../../channels/targets";
import { transformationProblem } from "../../channels/transform";
import { type FieldProblem, validationFailed } from "../validation";

/** Where an endpoint sends, as it will be stored: after a create, or a patch merged over the stored row. */
export interface EndpointTarget {
	channel: Channel;
	url: string | null;
	to: readonly string[] | null;
}

function targetProblems(target: EndpointTarget, env: Pick<Env, "ENVIRONMENT" | "EMAIL_FROM">): FieldProblem[] {
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
		return problems;
	}
	if (target.to !== null) problems.push({ field: "to", message: "is only for the email channel" });
	if (target.url === null) return [...problems, { field: "url", message: "is required" }];
	const problem = endpointUrlProblem(target.channel, target.url, env.ENVIRONMENT);
	return problem === null ? problems : [...problems, { field: "url", message: problem }];
}

/**
 * Checks the fields that depend on each other (a channel and its target),
 * when `target` is given, and a new transformation's syntax; throws a 422
 * naming every problem. A patch that leaves the target alone passes null,
 * so a stored URL that today's rules would refuse does not block it.
 */
export function assertEndpointTarget(
	target: EndpointTarget | null,
	transformation: string | null,
	env: Pick<Env, "ENVIRONMENT" | "EMAIL_FROM">,
): void {
	const problems = target === null ? [] : targetProblems(target, env);
	if (transformation !== null) {
		const problem = transformationProblem(transformation);
		if (problem !== null) problems.push({ field: "transformation", message: problem });
	}
	if (problems.length > 0) throw validationFailed(problems);
}
