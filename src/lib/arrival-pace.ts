/** How much each new gap moves a key's recent gap: a few arrivals set it, a burst does not stick. */
const GAP_WEIGHT = 0.25;

interface Pace {
	lastArrivalAt: number;
	/** The recent time between arrivals (ms), a moving average; null after the first. */
	recentGapMs: number | null;
}

/**
 * How close together things arrive for each key (a tenant) in this isolate.
 * Ingest waits to gather a tenant's work only when it comes close together,
 * so a tenant that sends now and then never waits; this is where that pace
 * is kept. Keys idle for longer than `forgetAfterMs` are dropped once more
 * than `keptIdle` are held, so the map stays bounded by the busy keys.
 */
export class ArrivalPaces {
	private readonly paces = new Map<string, Pace>();

	constructor(
		private readonly keptIdle: number,
		private readonly forgetAfterMs: number,
	) {}

	/** Notes an arrival for `key` at `now` (ms) and returns its recent gap, null for its first arrival. */
	note(key: string, now: number): number | null {
		const pace = this.paces.get(key);
		if (pace === undefined) {
			this.forgetIdle(now);
			this.paces.set(key, { lastArrivalAt: now, recentGapMs: null });
			return null;
		}
		const gap = now - pace.lastArrivalAt;
		pace.recentGapMs = pace.recentGapMs === null ? gap : pace.recentGapMs + GAP_WEIGHT * (gap - pace.recentGapMs);
		pace.lastArrivalAt = now;
		return pace.recentGapMs;
	}

	/** The recent gap of `key`, without noting an arrival; null when it has had fewer than two. */
	recentGapMs(key: string): number | null {
		return this.paces.get(key)?.recentGapMs ?? null;
	}

	private forgetIdle(now: number): void {
		if (this.paces.size <= this.keptIdle) return;
		for (const [key, pace] of this.paces) {
			if (now - pace.lastArrivalAt >= this.forgetAfterMs) this.paces.delete(key);
		}
	}
}
