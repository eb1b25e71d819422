/**
 * Reads a request body, but never more than `limit` bytes of it. A declared
 * Content-Length over the limit is refused before anything is read, and a
 * body without one (chunked) is read only until it passes the limit, then
 * its stream is cancelled: an isolate's memory is shared by every request it
 * serves, so one client must not make it hold a body it will refuse anyway.
 *
 * Returns the bytes, or the size at which reading stopped when the body is
 * over the limit (the declared size, or `limit + 1` at least for a stream).
 */
export async function readBodyWithin(
	request: Request,
	limit: number,
): Promise<{ bytes: Uint8Array<ArrayBuffer> } | { tooLarge: number }> {
	const declared = Number(request.headers.get("content-length") ?? Number.NaN);
	if (Number.isFinite(declared) && declared > limit) {
		await request.body?.cancel();
		return { tooLarge: declared };
	}
	if (request.body === null) return { bytes: new Uint8Array(0) };
	if (Number.isFinite(declared)) {
		// A declared length frames the body (the runtime drops Content-Length when a request is
		// chunked), so a network request cannot send more than it declared and the body can be
		// read whole: one native read, where the chunk loop below took about twice the CPU in
		// profiles of POST /v1/events. Only an in-process Request could carry more than it
		// declares; it is refused as well, after it was read.
		const bytes = new Uint8Array(await request.arrayBuffer());
		return bytes.byteLength > limit ? { tooLarge: bytes.byteLength } : { bytes };
	}
	const reader = request.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		size += value.byteLength;
		if (size > limit) {
			await reader.cancel();
			return { tooLarge: size };
		}
		chunks.push(value);
	}
	const bytes = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks) {
		bytes.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return { bytes };
}
