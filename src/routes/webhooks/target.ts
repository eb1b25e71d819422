import { emailChannelProblem } from "../../channels/email-send";
import { type Channel, endpointUrlProblem } from "../../channels/targets";
import { transformationProblem } from "../../channels/transform";
import { type FieldProblem, validationFailed } from "../validation";

/** Where an endpoint sends, as it will be stored: after a create, or a patch merged over the stored row. */
export interface EndpointTarget {
	channel: Channel;
	url: string | null;
	to: readonly string[] | null;
}

/** What the deployment's settings say about targets, and whose endpoint it is. */
export interface TargetRules {
	env: Pick<Env, "ENVIRONMENT" | "EMAIL_FROM" | "EMAIL_TENANTS">;
	tenantId: string;
}

function targetProblems(target: EndpointTarget, { env, tenantId }: TargetRules): FieldProblem[] {
	const problems: FieldProblem[] = [];
	if (target.channel === "email") {
		if (target.url !== null) problems.push({ field: "url", message: "must be left out for the email channel" });
		if (target.to === null) problems.push({ field: "to", message: "is required for the email channel" });
		const unavailable = emailChannelProblem(env, tenantId);
		if (unavailable !== null) problems.push({ field: "channel", message: unavailable });
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
	rules: TargetRules,
): void {
	const problems = target === null ? [] : targetProblems(target, rules);
	if (transformation !== null) {
		const problem = transformationProblem(transformation);
		if (problem !== null) problems.push({ field: "transformation", message: problem });
	}
	if (problems.length > 0) throw validationFailed(problems);
}
