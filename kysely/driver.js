// Kysely's Driver over a SQLiteConnectionPool. The pool is already a pool, so a "connection" is
// only a routing object: outside a transaction its reads go to the readers (in parallel) and the
// rest to the writer; inside one, everything runs on the transaction's handle on the writer.
'use strict'
const { readsFirst, runOnLane } = require('../lib/statement-lane')
const { holdTransaction } = require('./transaction')

// Query nodes that only read. Every other builder node (insert, update, delete, merge, DDL)
// writes; raw SQL (`RawNode`) is decided by its text.
const READ_NODES = new Set(['SelectQueryNode'])

function reads(compiledQuery) {
  const kind = compiledQuery.query?.kind
  return kind === 'RawNode' || kind === undefined ? readsFirst(compiledQuery.sql) : READ_NODES.has(kind)
}

function usageError(code, message) {
  return Object.assign(new Error(message), { code })
}

class PoolConnection {
  #pool
  #held = null

  constructor(pool) {
    this.#pool = pool
  }

  async executeQuery(compiledQuery) {
    const target = this.#held ? this.#held.tx : this.#pool
    const result = await runOnLane(target, { reads: reads(compiledQuery) }, compiledQuery.sql, [...compiledQuery.parameters])
    if (result.changes === undefined) return { rows: result.rows }
    return {
      rows: result.rows,
      numAffectedRows: BigInt(result.changes),
      insertId: BigInt(result.lastInsertRowid),
    }
  }

  /**
   * Rows of a SELECT in chunks of `chunkSize`: from the pool's `iterate` (a reader keeps the
   * statement open between batches), or inside a transaction from its handle, read at once.
   */
  async *streamQuery(compiledQuery, chunkSize = 100) {
    if (!reads(compiledQuery)) {
      throw usageError('INVALID_ARGUMENT', 'only SELECT queries can be streamed; run this one with execute()')
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw usageError('INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${String(chunkSize)}`)
    }
    const parameters = [...compiledQuery.parameters]
    const rows = this.#held
      ? await this.#held.tx.read(compiledQuery.sql, parameters)
      : this.#pool.iterate(compiledQuery.sql, parameters, { batchSize: chunkSize })
    let chunk = []
    for await (const row of rows) {
      chunk.push(row)
      if (chunk.length === chunkSize) {
        yield { rows: chunk }
        chunk = []
      }
    }
    if (chunk.length > 0) yield { rows: chunk }
  }

  async begin() {
    if (this.#held) throw usageError('NESTED_TRANSACTION', 'this connection is already in a transaction')
    this.#held = await holdTransaction(this.#pool)
  }

  /** COMMIT, or ROLLBACK. A rollback after a failed commit has nothing left to do. */
  async end(commit) {
    const held = this.#held
    this.#held = null
    if (commit) {
      if (!held) throw usageError('NO_TRANSACTION', 'there is no open transaction to commit')
      await held.commit()
    } else {
      await held?.rollback()
    }
  }
}

const SAVEPOINTS_REFUSED =
  'savepoints are not supported: the pool commits writes in groups and manages every SAVEPOINT itself; ' +
  'run the work as its own transaction instead'

class PoolDriver {
  #pool

  constructor(pool) {
    this.#pool = pool
  }

  async init() {}

  /** A new routing object each time: connections cost nothing, and each holds its own transaction. */
  async acquireConnection() {
    return new PoolConnection(this.#pool)
  }

  async releaseConnection() {}

  /**
   * BEGIN IMMEDIATE on the writer, whatever the settings: SQLite transactions are serializable,
   * and Kysely's SQLite dialect ignores the settings too.
   */
  async beginTransaction(connection) {
    await connection.begin()
  }

  async commitTransaction(connection) {
    await connection.end(true)
  }

  async rollbackTransaction(connection) {
    await connection.end(false)
  }

  async savepoint() {
    throw usageError('SAVEPOINT_UNSUPPORTED', SAVEPOINTS_REFUSED)
  }

  async rollbackToSavepoint() {
    throw usageError('SAVEPOINT_UNSUPPORTED', SAVEPOINTS_REFUSED)
  }

  async releaseSavepoint() {
    throw usageError('SAVEPOINT_UNSUPPORTED', SAVEPOINTS_REFUSED)
  }

  /** Leaves the pool open: it belongs to the caller, who may share it (`persistence.pool`). */
  async destroy() {}
}

module.exports = { PoolDriver }
