import { readFileSync } from "node:fs";
import { cpus, release, totalmem, type } from "node:os";
import { runtimeVersions, wranglerVersion } from "./worker";

export interface Machine {
	cpu_model: string;
	cores: number;
	ram_gb: number;
	os: string;
	node: string;
	wrangler: string;
	workerd: string;
	miniflare: string;
	load_average_at_start: number[];
}

function loadAverage(): number[] {
	try {
		return readFileSync("/proc/loadavg", "utf8")
			.split(" ")
			.slice(0, 3)
			.map((value) => Number(value));
	} catch {
		return [];
	}
}

export function describeMachine(root: string): Machine {
	const list = cpus();
	return {
		cpu_model: list[0]?.model.trim() ?? "unknown",
		cores: list.length,
		ram_gb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
		os: `${type()} ${release()}`,
		node: process.version,
		wrangler: wranglerVersion(root),
		...runtimeVersions(root),
		load_average_at_start: loadAverage(),
	};
}
