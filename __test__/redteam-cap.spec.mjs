// Red-team findings against the doorbell's cap (at most cores - 1 readers run short jobs at once;
// a job past HAND_OFF hands queued work off). Assertions are on values and on which promise
// settles first; the only time limits are generous hang guards.
import test from 'node:test'
import assert from 'node:assert/strict'
import { addon, dbPath } from './helpers.mjs'

const { SQLiteConnectionPool } = addon

/** `promise`, or a rejection naming `what` if it has not settled within 30 s. */
function settles(promise, what) {
  let timer
  const hang = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not settle within 30 s`)), 30_000)
  })
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer))
}

// ---- A long read that never steps SQLite's VM ------------------------------------------------
// A read spending its time inside one opcode (randomblob() filling 100 MB, a busy handler, a
// sort) never reaches the progress handler, so the running reader never notices it is overdue.
// A point read queued in the first HAND_OFF of such a read saw a reader running a short job and
// rang nobody; no later check looked again, so it waited the whole long read out while five
// readers stayed parked. Before the cap, a submitter rang whenever no reader was looking for
// work, and the point read was served at once by another reader.

test('a point read queued just as a long read that never steps the VM starts does not wait for it', async () => {
  for (const maxReaders of [6, 2]) {
    const pool = new SQLiteConnectionPool(dbPath(`cap-novm-${maxReaders}`), { maxReaders, maxWorkers: 1, queryTimeout: 60_000 })
    await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v)')
    await pool.write("INSERT INTO t(v) VALUES ('one')")
    const blobs = Array.from({ length: 6 }, () => 'length(randomblob(100000000))').join(' + ')
    for (let round = 0; round < 6; round++) {
      const order = []
      // A fresh statement each round: a cached one carries its VM step count over, so the
      // progress handler would fire at a different point of it each time.
      const long = pool.read(`SELECT ${blobs} AS n, ${round} AS round`).then((r) => { order.push('long'); return r })
      // Queued right after a reader started the long read (its batch taken, so not in it).
      for (let polls = 0; pool.getStats().availableReaders === maxReaders && polls < 1e6; polls++);
      const point = pool.get('SELECT v FROM t WHERE id = 1').then((r) => { order.push('point'); return r })
      assert.deepEqual(await settles(point, 'point read'), { v: 'one' })
      assert.deepEqual(await settles(long, 'long read'), [{ n: 600_000_000, round }])
      assert.deepEqual(order, ['point', 'long'], `maxReaders ${maxReaders}, round ${round}: the point read waited behind the long one`)
    }
    await settles(pool.close(), 'close')
  }
})

// ---- The addon loaded by one worker after another, the main thread never loading it -----------
// Not the doorbell: found while attacking it from worker_threads. Loading the addon in a worker,
// terminating the worker and loading it in the next one kills the process with SIGSEGV in
// mimalloc's mi_thread_init (from napi_register_module_v1) with the mimalloc crate's default v3;
// the pool now uses mimalloc's v2 line, which does not. The lifecycle tests load the addon on the
// main thread first, which hid it. Run in a child: the crash takes the process down.

test('the addon loads in a worker after another worker that loaded it was terminated', async () => {
  const { spawnSync } = await import('node:child_process')
  const index = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)
  const script = `
    const { Worker } = require('node:worker_threads')
    const code = 'const { SQLiteConnectionPool } = require(' + JSON.stringify(${index}) + '); require("node:worker_threads").parentPort.postMessage(typeof SQLiteConnectionPool)'
    ;(async () => {
      const got = []
      for (let i = 0; i < 3; i++) {
        const w = new Worker(code, { eval: true })
        got.push(await new Promise((r) => w.once('message', r)))
        await w.terminate()
      }
      process.stdout.write(JSON.stringify(got))
    })()
  `
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(child.signal, null, `the process died of ${child.signal}`)
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), ['function', 'function', 'function'])
})
