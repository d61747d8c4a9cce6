// `drizzle(pool, config)`: a drizzle-orm/sqlite-proxy database over a SQLiteConnectionPool, with
// `transaction()` on the pool's interactive transactions. sqlite-proxy would send BEGIN/COMMIT
// through its stateless callback, which the pool refuses (it commits in groups) and which could
// not tell the transaction's statements from anyone else's; here each transaction gets its own
// session whose callback runs on the transaction's handle. Made from the Drizzle modules the
// caller loaded (ESM or CommonJS), so errors and classes are the caller's own copies.
'use strict'
const { AsyncLocalStorage } = require('node:async_hooks')
const { checkPool } = require('../lib/pool-argument')
const { readsFirst } = require('../lib/statement-lane')
const { statementOn, batchOn } = require('./remote')

// The open transaction (`{ pool, open }`) whose callback the current code runs in, if any.
const insideTransaction = new AsyncLocalStorage()

function nestedError(message) {
  return Object.assign(new Error(message), { code: 'NESTED_TRANSACTION' })
}

const WAITS = 'inside a transaction of the same pool would wait for that transaction to end (until queryTimeout); '

/** The transaction of `pool` the caller is inside of, if any. */
function openTransactionOf(pool) {
  const current = insideTransaction.getStore()
  return current?.open && current.pool === pool
}

/**
 * The `drizzle` function over the given Drizzle modules: `proxy` (drizzle-orm/sqlite-proxy),
 * `core` (drizzle-orm/sqlite-core), `orm` (drizzle-orm).
 */
function defineDrizzle(proxy, core, orm) {
  const { entityKind, DefaultLogger } = orm

  /** A transaction of this pool; `rollback()` (Drizzle's) throws TransactionRollbackError. */
  class PoolTransaction extends core.SQLiteTransaction {
    static [entityKind] = 'SwarmPersistencePoolTransaction'

    async transaction() {
      throw nestedError('nested transactions (savepoints) are not supported in a pool transaction; run the work in this one, through `tx`')
    }
  }

  return function drizzle(pool, config = {}) {
    checkPool(pool, 'drizzle(pool)')
    const direct = statementOn(pool)
    const batch = batchOn(pool)
    // Reads through `db` inside a transaction go to the readers (they do not see its writes);
    // writes would queue behind it.
    const statement = (sql, params, method) => {
      const writes = method === 'run' || !readsFirst(sql)
      if (writes && openTransactionOf(pool)) return Promise.reject(nestedError(`a write through the database ${WAITS}run it through \`tx\``))
      return direct(sql, params, method)
    }
    const guardedBatch = (statements) =>
      openTransactionOf(pool) ? Promise.reject(nestedError(`a batch through the database ${WAITS}run its statements through \`tx\``)) : batch(statements)
    const db = proxy.drizzle(statement, guardedBatch, config)
    const dialect = new core.SQLiteAsyncDialect({ casing: config.casing })
    const schema = db._.schema && { fullSchema: db._.fullSchema, schema: db._.schema, tableNamesMap: db._.tableNamesMap }
    const logger = config.logger === true ? new DefaultLogger() : config.logger || undefined

    /**
     * Runs `fn(tx)` in one interactive transaction on the writer: committed when `fn` resolves,
     * rolled back when it throws (`tx.rollback()` throws Drizzle's TransactionRollbackError).
     * Always BEGIN IMMEDIATE, the strongest of the behaviours Drizzle's config names.
     */
    async function transaction(fn) {
      if (openTransactionOf(pool)) throw nestedError(`a transaction begun ${WAITS}run the work through \`tx\``)
      return pool.transaction(async (handle) => {
        const session = new proxy.SQLiteRemoteSession(statementOn(handle), dialect, schema, undefined, { logger })
        const state = { pool, open: true }
        try {
          return await insideTransaction.run(state, () => fn(new PoolTransaction('async', dialect, session, schema)))
        } finally {
          state.open = false
        }
      })
    }

    Object.defineProperty(db, 'transaction', { value: transaction, configurable: true, writable: true })
    return db
  }
}

module.exports = { defineDrizzle }
