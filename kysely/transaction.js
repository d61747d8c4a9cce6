// An interactive pool transaction held open between separate begin, commit and rollback calls,
// as Kysely's driver makes them: `pool.transaction(fn)` runs with an `fn` that waits for the
// commit or rollback, and its handle runs the statements meanwhile.
'use strict'

// What `fn` throws to have the pool roll back: no caller's rejection, only the pool's
// `transaction-error` event shows it.
const ROLLBACK = Object.assign(new Error('rolled back by the Kysely transaction'), { code: 'ROLLBACK' })

/**
 * Resolves once BEGIN IMMEDIATE ran on the writer (rejects if it failed):
 * `{ tx, commit(), rollback() }`, `tx` being the transaction's `read/get/write` handle.
 */
function holdTransaction(pool) {
  return new Promise((opened, failed) => {
    let settle
    const finished = pool.transaction((tx) =>
      new Promise((resolve, reject) => {
        settle = { resolve, reject }
        opened({ tx, commit, rollback })
      }),
    )
    // Before it opened, a failure is the begin's; after, commit() reports it. Either way the
    // rejection is handled now, also when the pool ends the transaction on its own (QUERY_TIMEOUT).
    finished.catch(failed)

    /** Resolves after COMMIT; rejects if the pool rolled back instead (its error). */
    async function commit() {
      settle.resolve()
      await finished
    }

    /**
     * Resolves after ROLLBACK. Never rejects: nothing was committed either way, and Kysely
     * rethrows the error that made it roll back, which a rollback error would replace.
     */
    async function rollback() {
      settle.reject(ROLLBACK)
      await finished.catch(() => {})
    }
  })
}

module.exports = { holdTransaction }
