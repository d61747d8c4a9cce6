// Shared helpers for the specs: temporary database paths and error-code assertions.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

export const require = createRequire(import.meta.url)
export const addon = require('../lib/index.js')

const root = mkdtempSync(join(tmpdir(), 'sp-spec-'))
let next = 0
process.on('exit', () => rmSync(root, { recursive: true, force: true }))

export function dbPath(name = 'db') {
  next += 1
  return join(root, `${name}-${next}`, 'test.db')
}

export async function rejectsWith(promise, code, messagePart) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`)
    assert.equal(err.code, code, `${err.code}: ${err.message}`)
    if (messagePart) assert.match(err.message, messagePart)
    return true
  })
}

export function throwsWith(fn, code, messagePart) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error)
    assert.equal(err.code, code, `${err.code}: ${err.message}`)
    if (messagePart) assert.match(err.message, messagePart)
    return true
  })
}

/** A query that runs for a while on a worker: a recursive count of `n` steps. */
export const slowCount = (n) => `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT count(*) AS n FROM c`
export const forever = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c'
