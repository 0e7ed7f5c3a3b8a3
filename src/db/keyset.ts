import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { KeyBound, KeysetSlice } from '../common/pagination';

export type ListOrder = 'ASC' | 'DESC';

export interface KeysetSql {
  /** Conditions to AND into the WHERE clause, with `?` placeholders. */
  conditions: string[];
  params: unknown[];
  /** `col1 DIR, col2 DIR`: the order to read the slice in (the list's, or its reverse from the end). */
  orderBy: string;
  limit: number;
}

/** `(a, b) > (x, y)` spelt out, which MySQL/MariaDB and SQLite all turn into an index range. */
function compare(columns: string[], values: unknown[], op: '<' | '>', inclusive: boolean): { sql: string; params: unknown[] } {
  const [head, ...rest] = columns;
  if (rest.length === 0) return { sql: `${head} ${op}${inclusive ? '=' : ''} ?`, params: [values[0]] };
  const inner = compare(rest, values.slice(1), op, inclusive);
  return { sql: `(${head} ${op} ? OR (${head} = ? AND ${inner.sql}))`, params: [values[0], values[0], ...inner.params] };
}

/**
 * The SQL of a keyset slice over a list ordered by `columns` (all ascending or all descending, as
 * `listOrder` says). `split` turns a cursor key into one value per column.
 */
export function keysetSql(
  slice: KeysetSlice,
  columns: string[],
  listOrder: ListOrder,
  split: (key: string) => unknown[] = (key) => [key],
): KeysetSql {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const bound = (keyBound: KeyBound | null, side: 'after' | 'before') => {
    if (!keyBound) return;
    const later = (side === 'after') === (listOrder === 'ASC');
    const condition = compare(columns, split(keyBound.key), later ? '>' : '<', keyBound.inclusive);
    conditions.push(condition.sql);
    params.push(...condition.params);
  };
  bound(slice.after, 'after');
  bound(slice.before, 'before');
  const readOrder = slice.fromEnd ? (listOrder === 'ASC' ? 'DESC' : 'ASC') : listOrder;
  return { conditions, params, orderBy: columns.map((column) => `${column} ${readOrder}`).join(', '), limit: slice.limit };
}

/** Applies a keyset slice over one key column to a TypeORM query builder. */
export function applyKeyset<T extends ObjectLiteral>(query: SelectQueryBuilder<T>, slice: KeysetSlice, column: string, listOrder: ListOrder): SelectQueryBuilder<T> {
  const sql = keysetSql(slice, [column], listOrder);
  sql.conditions.forEach((condition, index) => {
    query.andWhere(condition.replace('?', `:keyset${index}`), { [`keyset${index}`]: sql.params[index] });
  });
  return query.orderBy(column, slice.fromEnd === (listOrder === 'ASC') ? 'DESC' : 'ASC').take(sql.limit);
}
