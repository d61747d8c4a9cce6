// The declarations of index.d.ts against drizzle-orm's ES module types: to TypeScript a class from
// its CommonJS types is another type than the same class from its ESM types.
import type { DrizzleConfig } from 'drizzle-orm'
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import type { SQLiteConnectionPool } from '../index.js'

/** What `run()` resolves to: the writer's counts, and the rows (arrays) of a statement that returns any. */
export interface PoolRunResult {
  rows: unknown[][]
  changes: number
  lastInsertRowid: number | bigint
}

/**
 * A Drizzle SQLite database over the pool (drizzle-orm/sqlite-proxy's): reads on the readers,
 * writes on the writer. `transaction(fn)` runs on the pool's interactive transactions (BEGIN
 * IMMEDIATE; `tx.rollback()` throws TransactionRollbackError; nested transactions reject
 * NESTED_TRANSACTION); `batch([...])` commits all of its statements or none.
 */
export interface PoolDatabase<TSchema extends Record<string, unknown> = Record<string, never>>
  extends BaseSQLiteDatabase<'async', PoolRunResult, TSchema> {
  batch<U extends BatchItem<'sqlite'>, T extends Readonly<[U, ...U[]]>>(batch: T): Promise<BatchResponse<T>>
}

/** `drizzle(pool, { schema })`: `pool` a SQLiteConnectionPool or `persistence.pool`; it stays open until you close it. */
export declare function drizzle<TSchema extends Record<string, unknown> = Record<string, never>>(
  pool: SQLiteConnectionPool,
  config?: DrizzleConfig<TSchema>,
): PoolDatabase<TSchema>
