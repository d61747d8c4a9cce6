// Lifecycle across isolates: the addon loaded in worker_threads and the main thread at once,
// workers terminated with work in flight, close with 10,000 operations queued (raw, and through
// SwarmPersistencePooled on every backend).
import test from 'node:test'
import assert from 'node:assert/strict'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import { addon, dbPath, rejectsWith } from './helpers.mjs'
import { eachBackend } from './backends.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const indexPath = new URL('../lib/index.js', import.meta.url).pathname

const WORKER = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { SQLiteConnectionPool } = require(workerData.index)
  ;(async () => {
    const pool = new SQLiteConnectionPool(workerData.path, { maxReaders: 2, maxWorkers: 1 })
    await pool.write('CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, who TEXT)')
    await Promise.all(Array.from({ length: workerData.n }, () => pool.write('INSERT INTO t(who) VALUES (?)', [workerData.who])))
    const { n } = await pool.get('SELECT count(*) AS n FROM t WHERE who = ?', [workerData.who])
    if (workerData.leaveOpen) {
      // Keep writing until terminated.
      for (let i = 0; i < 10000; i++) pool.write('INSERT INTO t(who) VALUES (?)', ['late']).catch(() => {})
      parentPort.postMessage({ n })
      return
    }
    await pool.close()
    parentPort.postMessage({ n })
  })().catch((e) => parentPort.postMessage({ error: e.code + ': ' + e.message }))
`

function startWorker(data) {
  return new Worker(WORKER, { eval: true, workerData: { index: indexPath, ...data } })
}

test('two worker isolates and the main thread each run their own pool at once', async () => {
  const main = new SQLiteConnectionPool(dbPath('iso-main'), { maxReaders: 2, maxWorkers: 1 })
  await main.write('CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT)')
  const workers = [startWorker({ path: dbPath('iso-a'), n: 3000, who: 'a' }), startWorker({ path: dbPath('iso-b'), n: 3000, who: 'b' })]
  const exited = workers.map((w) => once(w, 'exit'))
  const mainWrites = Promise.all(Array.from({ length: 3000 }, () => main.write('INSERT INTO t(who) VALUES (?)', ['main'])))
  const replies = await Promise.all(workers.map((w) => once(w, 'message').then(([m]) => m)))
  await mainWrites
  assert.deepEqual(replies, [{ n: 3000 }, { n: 3000 }])
  assert.equal((await main.get('SELECT count(*) AS n FROM t')).n, 3000)
  assert.deepEqual((await Promise.all(exited)).map(([code]) => code), [0, 0])
  await main.close()
})

test('a worker terminated with its pool open and work in flight does not take the process down', async () => {
  const path = dbPath('iso-terminate')
  const worker = startWorker({ path, n: 500, who: 'w', leaveOpen: true })
  const [reply] = await once(worker, 'message')
  assert.deepEqual(reply, { n: 500 })
  await worker.terminate()
  // The file is whole and every write the worker saw acknowledged is in it.
  const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1 })
  assert.deepEqual(await pool.read('PRAGMA integrity_check'), [{ integrity_check: 'ok' }])
  assert.equal((await pool.get("SELECT count(*) AS n FROM t WHERE who = 'w'")).n, 500)
  await pool.close()
})

test('close with 10,000 operations queued settles every one of them', async () => {
  const pool = new SQLiteConnectionPool(dbPath('close-queued'), { maxReaders: 2, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)')
  const ops = []
  for (let i = 0; i < 10_000; i++) {
    ops.push(i % 2 ? pool.write('INSERT INTO t(v) VALUES (?)', [i]) : pool.get('SELECT count(*) AS n FROM t'))
  }
  const closed = pool.close()
  const late = rejectsWith(pool.write('INSERT INTO t(v) VALUES (-1)'), 'POOL_CLOSED')
  const results = await Promise.allSettled(ops)
  await closed
  await late
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code), [])
  const reopened = new SQLiteConnectionPool(pool.path, { maxReaders: 1, maxWorkers: 1 })
  assert.equal((await reopened.get('SELECT count(*) AS n FROM t')).n, 5_000)
  await reopened.close()
})

eachBackend('close with 10,000 persistence calls queued settles every one of them; every acknowledged write is there', async (backend) => {
  const path = backend.location('close-queued-p')
  const p = new SwarmPersistencePooled(path, { maxReaders: 2, maxWorkers: 1 })
  await p.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 })
  await p.createAgent({ id: 'a', swarmId: 's', name: 'n', type: 't' })
  const ops = []
  for (let i = 0; i < 10_000; i++) ops.push(i % 2 ? p.storeMemory('a', `k${i}`, i) : p.getMemory('a', `k${i - 1}`))
  const closed = p.close()
  const late = rejectsWith(p.storeMemory('a', 'late', -1), 'POOL_CLOSED')
  const results = await Promise.allSettled(ops)
  await closed
  await late
  assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code), [])
  const reopened = new SwarmPersistencePooled(path, { maxReaders: 1, maxWorkers: 1 })
  assert.equal((await reopened.getAllMemory('a')).length, 5_000)
  assert.equal(await reopened.getMemory('a', 'late'), null)
  await reopened.close()
})
