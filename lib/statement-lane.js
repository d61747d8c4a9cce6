// Which lane runs a query builder's statement: the readers (parallel, never behind the writer)
// for reads, the writer for everything else. Builders know a SELECT; for raw SQL text the first
// keyword decides, and where it cannot (`WITH … INSERT`, `PRAGMA user_version = 5`) SQLite does:
// a reader refuses a writing statement before running it (READ_ONLY, or INVALID_ARGUMENT for a
// PRAGMA that sets something), and it goes to the writer, whose answer is final.
'use strict'

// Statements that may only read. `WITH` and `PRAGMA` may also write; SQLite tells those apart.
const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'VALUES', 'EXPLAIN', 'PRAGMA'])

/** The first keyword of `sql`, upper case, past white space, comments and opening parentheses. */
function firstKeyword(sql) {
  let i = 0
  while (i < sql.length) {
    const c = sql[i]
    if (c === '(' || /\s/.test(c)) {
      i++
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i)
      i = end < 0 ? sql.length : end + 1
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2)
      i = end < 0 ? sql.length : end + 2
    } else {
      break
    }
  }
  const word = /^[A-Za-z]+/.exec(sql.slice(i, i + 16))
  return word ? word[0].toUpperCase() : ''
}

/** True when `sql` is worth sending to a reader first. */
function readsFirst(sql) {
  return READ_KEYWORDS.has(firstKeyword(sql))
}

/** True when a reader refused `sql` as one that writes, before running it. */
function refusedByReaders(err, sql) {
  return err?.code === 'READ_ONLY' || (err?.code === 'INVALID_ARGUMENT' && firstKeyword(sql) === 'PRAGMA')
}

/**
 * Runs a statement on `target` (the pool, or an interactive transaction's handle, which has the
 * same `read`/`get`/`write`): `read` (or `get` when only the `first` row is wanted) when
 * `reads`, moving to `write` if SQLite says it writes. `options` goes to each (e.g. `{ raw: true }`).
 * Resolves `{ rows, changes?, lastInsertRowid? }`, the counts only from the writer.
 */
async function runOnLane(target, { reads, first = false }, sql, params, options) {
  if (reads) {
    try {
      const read = await (first ? target.get(sql, params, options) : target.read(sql, params, options))
      if (options?.raw) return { rows: read.rows }
      return { rows: first ? (read === null ? [] : [read]) : read }
    } catch (err) {
      if (!refusedByReaders(err, sql)) throw err
    }
  }
  const written = await target.write(sql, params, options)
  return { rows: written.rows ?? [], changes: written.changes, lastInsertRowid: written.lastInsertRowid }
}

module.exports = { readsFirst, runOnLane }
