/**
 * Usage counters for `npm run bench`, so cost is counted rather than
 * estimated. D1 and the queue are only wrapped, and the counters only
 * served at /_bench, when ENVIRONMENT=development and BENCH_METERING=on.
 *
 * The counters live in module scope: under wrangler dev the worker and its
 * Durable Objects share one isolate, so one object sees every charge.
 */
import { shardD1, shardNames } from "../db/tenant-database";
import { type DatabaseCounters, type MeterCounters, zeroCounters } from "./meter-counters";

export type { MeterCounters };

let counters = zeroCounters();

export function meteringEnabled(env: { ENVIRONMENT?: string; BENCH_METERING?: string }): boolean {
	return env.ENVIRONMENT === "development" && env.BENCH_METERING === "on";
}

/**
 * Adds to a counter. Plain counts always run (an addition costs nothing worth
 * a branch); only the D1 and queue wrappers, which change call paths, depend
 * on BENCH_METERING.
 */
export function count(name: keyof MeterCounters, amount = 1): void {
	counters[name] += amount;
}

export function readCounters(): MeterCounters {
	return { ...counters };
}

export function resetCounters(): void {
	counters = zeroCounters();
	byDatabase = {};
}

/** The D1 counters again, per database binding, so the bench can show each shard's share. */
let byDatabase: Record<string, DatabaseCounters> = {};

export function readDatabaseCounters(): Record<string, DatabaseCounters> {
	return structuredClone(byDatabase);
}

function countMeta(binding: string, meta: { rows_read?: number; rows_written?: number } | undefined): void {
	const read = meta?.rows_read ?? 0;
	const written = meta?.rows_written ?? 0;
	counters.d1_queries += 1;
	counters.d1_rows_read += read;
	counters.d1_rows_written += written;
	const database = byDatabase[binding] ?? { d1_queries: 0, d1_rows_read: 0, d1_rows_written: 0 };
	database.d1_queries += 1;
	database.d1_rows_read += read;
	database.d1_rows_written += written;
	byDatabase[binding] = database;
}

const unwrapped = new WeakMap<object, D1PreparedStatement>();

/**
 * A statement whose results are counted. `first` and `raw` return no meta, so
 * they are answered through `all`, which does; the rows are the same.
 */
function meterStatement(binding: string, statement: D1PreparedStatement): D1PreparedStatement {
	const metered = new Proxy(statement, {
		get(target, property) {
			if (property === "bind") return (...values: unknown[]) => meterStatement(binding, target.bind(...values));
			if (property === "all" || property === "run") {
				return async () => {
					const result = await (property === "all" ? target.all() : target.run());
					countMeta(binding, result.meta);
					return result;
				};
			}
			if (property === "first") {
				return async (column?: string) => {
					const result = await target.all<Record<string, unknown>>();
					countMeta(binding, result.meta);
					const row = result.results[0];
					if (row === undefined) return null;
					return column === undefined ? row : (row[column] ?? null);
				};
			}
			if (property === "raw") {
				return async (options?: { columnNames?: boolean }) => {
					const result = await target.all<Record<string, unknown>>();
					countMeta(binding, result.meta);
					const rows = result.results.map((row) => Object.values(row));
					const first = result.results[0];
					return options?.columnNames ? [first === undefined ? [] : Object.keys(first), ...rows] : rows;
				};
			}
			return Reflect.get(target, property);
		},
	});
	unwrapped.set(metered, statement);
	return metered;
}

export function meterD1(database: D1Database, binding: string): D1Database {
	return new Proxy(database, {
		get(target, property) {
			if (property === "prepare") return (query: string) => meterStatement(binding, target.prepare(query));
			if (property === "batch") {
				return async (statements: D1PreparedStatement[]) => {
					const results = await target.batch(statements.map((statement) => unwrapped.get(statement) ?? statement));
					for (const result of results) countMeta(binding, result.meta);
					return results;
				};
			}
			return Reflect.get(target, property);
		},
	});
}

export function meterQueue<T>(queue: Queue<T>): Queue<T> {
	return new Proxy(queue, {
		get(target, property) {
			if (property === "send") {
				return (body: T, options?: QueueSendOptions) => {
					counters.queue_messages_sent += 1;
					return target.send(body, options);
				};
			}
			if (property === "sendBatch") {
				return (messages: Iterable<MessageSendRequest<T>>, options?: QueueSendBatchOptions) => {
					const list = [...messages];
					counters.queue_messages_sent += list.length;
					return target.sendBatch(list, options);
				};
			}
			return Reflect.get(target, property);
		},
	});
}

/** The env with D1 and the queue counted, when metering is on; the env itself otherwise. */
export function meteredEnv(env: Env): Env {
	if (!meteringEnabled(env)) return env;
	const shards = Object.fromEntries(shardNames(env).map((name) => [name, meterD1(shardD1(env, name), name)]));
	return {
		...env,
		...shards,
		DELIVERY_QUEUE: meterQueue(env.DELIVERY_QUEUE),
		SLOW_DELIVERY_QUEUE: meterQueue(env.SLOW_DELIVERY_QUEUE),
	};
}

/** SQL cursor usage inside a Durable Object, read after the cursor is drained. */
export function countDurableObjectSql(cursor: { rowsRead: number; rowsWritten: number }): void {
	counters.do_rows_read += cursor.rowsRead;
	counters.do_rows_written += cursor.rowsWritten;
}
