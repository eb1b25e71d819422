/** The targets, checked against measured figures (never asserted: a miss does not fail the run). */
export interface TargetCheck {
	id: string;
	description: string;
	target: string;
	measured: string;
	/** Fan-out-1 figure reported beside it, where there is one. */
	fanout1: string | null;
	/** null when the figure could not be measured. */
	pass: boolean | null;
}

export function check(
	id: string,
	description: string,
	target: string,
	measured: number | null | undefined,
	passes: (value: number) => boolean,
	format: (value: number) => string,
	fanout1: string | null = null,
	extraCondition: { ok: boolean; note: string } | null = null,
): TargetCheck {
	if (measured === null || measured === undefined || !Number.isFinite(measured)) {
		return { id, description, target, measured: "not measured", fanout1, pass: null };
	}
	const valueOk = passes(measured);
	const pass = valueOk && (extraCondition?.ok ?? true);
	const note = extraCondition === null ? "" : `, ${extraCondition.note}`;
	return { id, description, target, measured: `${format(measured)}${note}`, fanout1, pass };
}
