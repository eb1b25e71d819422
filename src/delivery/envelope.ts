/** What a receiver gets as the body: built once per event, byte for byte what is signed. */
export interface EnvelopeSource {
	id: string;
	type: string;
	createdAtMs: number;
	/** The payload already serialized with JSON.stringify. */
	dataJson: string;
}

/** ISO 8601 to the second, as the seeds show it (`2024-01-15T10:00:00Z`). */
export function isoSeconds(ms: number): string {
	return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}

/**
 * Serializes the envelope exactly as `JSON.stringify({id, type, created,
 * created_at, data})` would, so receivers that re-serialize the parsed body get
 * the signed bytes back. Splicing the stored data text in avoids parsing it
 * again for every delivery.
 */
export function serializeEnvelope(source: EnvelopeSource): string {
	const created = Math.floor(source.createdAtMs / 1000);
	return `{"id":${JSON.stringify(source.id)},"type":${JSON.stringify(source.type)},"created":${created},"created_at":"${isoSeconds(source.createdAtMs)}","data":${source.dataJson}}`;
}
