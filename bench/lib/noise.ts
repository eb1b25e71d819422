import { readFileSync } from "node:fs";
import type { LocalWorker } from "./worker";

/**
 * Watches how much CPU the rest of the machine uses while the bench runs:
 * all busy CPU time (/proc/stat) minus the bench's own process and wrangler's
 * process group. On a small shared machine this is the noise in the figures.
 */
export class CpuNoise {
	private readonly samples: { at: number; foreignCores: number }[] = [];
	private timer: NodeJS.Timeout | undefined;
	private last: { at: number; busyMs: number; oursMs: number } | null = null;

	constructor(
		private readonly worker: LocalWorker,
		private readonly ticksPerSecond: number,
	) {}

	start(intervalMs = 1_000): void {
		this.last = this.read();
		this.timer = setInterval(() => this.sample(), intervalMs);
		this.timer.unref();
	}

	stop(): void {
		if (this.timer !== undefined) clearInterval(this.timer);
	}

	/** Mean cores used by other processes between `from` and `to` (performance.now()), or null without samples. */
	between(from: number, to: number): number | null {
		const inside = this.samples.filter((sample) => sample.at > from && sample.at <= to);
		if (inside.length === 0) return null;
		return inside.reduce((sum, sample) => sum + sample.foreignCores, 0) / inside.length;
	}

	summary(): { mean_cores: number | null; max_cores: number | null; samples: number } {
		if (this.samples.length === 0) return { mean_cores: null, max_cores: null, samples: 0 };
		const values = this.samples.map((sample) => sample.foreignCores);
		const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
		return {
			mean_cores: Math.round(mean * 100) / 100,
			max_cores: Math.round(Math.max(...values) * 100) / 100,
			samples: values.length,
		};
	}

	private sample(): void {
		const current = this.read();
		if (this.last !== null && current.at > this.last.at) {
			const wallMs = current.at - this.last.at;
			const foreignMs = current.busyMs - this.last.busyMs - (current.oursMs - this.last.oursMs);
			this.samples.push({ at: current.at, foreignCores: Math.max(0, foreignMs / wallMs) });
		}
		this.last = current;
	}

	private read(): { at: number; busyMs: number; oursMs: number } {
		const cpu = this.worker.cpu();
		const self = process.cpuUsage();
		return {
			at: performance.now(),
			busyMs: busyTicks() * (1000 / this.ticksPerSecond),
			oursMs: cpu.workerdMs + cpu.proxyMs + cpu.otherMs + (self.user + self.system) / 1000,
		};
	}
}

/** Busy CPU ticks of the whole machine since boot (all but idle and iowait). */
export function busyTicks(): number {
	try {
		const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
		const fields = line.trim().split(/\s+/).slice(1).map(Number);
		const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
		return user + nice + system + irq + softirq + steal;
	} catch {
		return 0;
	}
}

/** A point to measure machine-wide and bench-process CPU from. */
export interface CpuMark {
	at: number;
	busyTicks: number;
	self: NodeJS.CpuUsage;
}

export function cpuMark(): CpuMark {
	return { at: performance.now(), busyTicks: busyTicks(), self: process.cpuUsage() };
}

/** Cores busy on the whole machine, and used by the bench process itself, since `mark`. */
export function cpuSince(
	mark: CpuMark,
	ticksPerSecond: number,
): { machine_busy_cores: number | null; bench_process_cores: number | null } {
	const wallMs = performance.now() - mark.at;
	if (wallMs <= 0) return { machine_busy_cores: null, bench_process_cores: null };
	const busyMs = (busyTicks() - mark.busyTicks) * (1000 / ticksPerSecond);
	const self = process.cpuUsage(mark.self);
	return {
		machine_busy_cores: Math.round((busyMs / wallMs) * 100) / 100,
		bench_process_cores: Math.round(((self.user + self.system) / 1000 / wallMs) * 100) / 100,
	};
}
