import { getTableColumns, is, SQL, sql } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";

/**
 * The row as a SELECT that yields it only while `condition` holds, for
 * `db.insert(table).select(...)`: the check and the insert are one
 * statement, so no other write can come between them. drizzle takes an SQL
 * select as every insertable column in the table's order, so a value left
 * out is filled the way drizzle's own VALUES would fill it.
 */
export function rowWhere<TTable extends SQLiteTable>(table: TTable, row: TTable["$inferInsert"], condition: SQL): SQL {
	const given = row as Record<string, unknown>;
	const columns = Object.entries(getTableColumns(table) as Record<string, SQLiteColumn>).filter(
		([, column]) => column.generated === undefined,
	);
	const values = columns.map(([key, column]) => {
		const value = given[key];
		if (value !== undefined) return is(value, SQL) ? value : sql.param(value, column);
		const fallback =
			column.default !== undefined ? column.default : (column.defaultFn?.() ?? column.onUpdateFn?.() ?? null);
		return is(fallback, SQL) ? fallback : sql.param(fallback, column);
	});
	return sql`select ${sql.join(values, sql`, `)} where ${condition}`;
}

/**
 * Whether the tenant has fewer than `limit` rows in the table. The tables it
 * serves (endpoints, event_types, templates) have primary keys that start
 * with tenant_id, so the count walks the tenant's range of that key and no
 * other tenant's rows: D1 bills about as many rows read as the tenant has,
 * which is its limit at most (250 endpoints by default) unless the limit was
 * lowered below what it kept, and only on a create.
 */
export function tenantCountBelow(table: SQLiteTable, tenantIdColumn: SQLiteColumn, tenantId: string, limit: number) {
	return sql`(select count(*) from ${table} where ${tenantIdColumn} = ${tenantId}) < ${limit}`;
}
