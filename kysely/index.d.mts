// The declarations of index.d.ts against Kysely's ES module types: to TypeScript a class from
// Kysely's CommonJS types is another type than the same class from its ESM types.
import type { DatabaseIntrospector, Dialect, DialectAdapter, Driver, Kysely, QueryCompiler } from 'kysely'
import type { SQLiteConnectionPool } from '../index.js'

export interface PoolDialectConfig {
  /** A SQLiteConnectionPool, or `persistence.pool` of an initialized SwarmPersistencePooled. Not closed by `db.destroy()`. */
  pool: SQLiteConnectionPool
}

/**
 * Kysely's SQLite dialect over the pool: selects on the readers, everything else on the writer,
 * transactions on the pool's interactive transactions (no savepoints: SAVEPOINT_UNSUPPORTED),
 * `stream()` on `pool.iterate`.
 */
export declare class PoolDialect implements Dialect {
  constructor(config: PoolDialectConfig)
  createDriver(): Driver
  createQueryCompiler(): QueryCompiler
  createAdapter(): DialectAdapter
  createIntrospector<DB>(db: Kysely<DB>): DatabaseIntrospector
}
