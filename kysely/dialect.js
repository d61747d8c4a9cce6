// `PoolDialect`: Kysely's SQLite adapter, introspector and query compiler over our driver. Made
// from the Kysely module the caller loaded (ESM or CommonJS), so the classes Kysely hands back
// are the caller's own copies, never a second copy of Kysely.
'use strict'
const { checkPool } = require('../lib/pool-argument')
const { PoolDriver } = require('./driver')

/** The PoolDialect class over `kysely` (the module's namespace: SqliteAdapter, …). */
function definePoolDialect(kysely) {
  const { SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } = kysely

  return class PoolDialect {
    #pool

    /** `config.pool`: a SQLiteConnectionPool, or `persistence.pool` of an initialized SwarmPersistencePooled. */
    constructor(config) {
      this.#pool = checkPool(config?.pool, 'PoolDialect config.pool')
    }

    createDriver() {
      return new PoolDriver(this.#pool)
    }

    createQueryCompiler() {
      return new SqliteQueryCompiler()
    }

    createAdapter() {
      return new SqliteAdapter()
    }

    createIntrospector(db) {
      return new SqliteIntrospector(db)
    }
  }
}

module.exports = { definePoolDialect }
