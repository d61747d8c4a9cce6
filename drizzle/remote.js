// The callbacks drizzle-orm/sqlite-proxy calls, over a SQLiteConnectionPool or an interactive
// transaction's handle. Rows travel as arrays (`{ raw: true }`), which Drizzle maps by position,
// so a join of tables with columns of the same name keeps every column.
'use strict'
const { readsFirst, runOnLane } = require('../lib/statement-lane')

const RAW = Object.freeze({ raw: true })

/**
 * `(sql, params, method) => Promise<{ rows }>` on `target`: `run` on the writer, resolving
 * `{ rows, changes, lastInsertRowid }`; `all` and `values` all rows, `get` the first row or
 * undefined, from the readers when the statement only reads, else from the writer
 * (`INSERT … RETURNING`).
 */
function statementOn(target) {
  return async function statement(sql, params, method) {
    if (method === 'run') {
      const written = await target.write(sql, params, RAW)
      return { rows: written.rows ?? [], changes: written.changes, lastInsertRowid: written.lastInsertRowid }
    }
    const first = method === 'get'
    const { rows } = await runOnLane(target, { reads: readsFirst(sql), first }, sql, params, RAW)
    return { rows: first ? rows[0] : rows }
  }
}

/** The batch callback: every statement in one interactive transaction, committed together or not at all. */
function batchOn(pool) {
  return (statements) =>
    pool.transaction(async (tx) => {
      const statement = statementOn(tx)
      const results = []
      for (const { sql, params, method } of statements) results.push(await statement(sql, params, method))
      return results
    })
}

module.exports = { statementOn, batchOn }
