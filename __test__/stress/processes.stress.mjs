// Two processes, two pools, one file: both write with no lost rows (waiting on each other's
// write lock through busy_timeout and BEGIN IMMEDIATE); a writer that cannot get the lock within
// its busyTimeout gets a clear SQLITE_BUSY, one that may wait long enough succeeds.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { addon, dbPath } from '../helpers.mjs'

const { SQLiteConnectionPool } = addon
const child = fileURLToPath(new URL('./writer-child.cjs', import.meta.url))

function run(args, onLine) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    proc.stdout.on('data', (d) => {
      out += d
      if (onLine && out.includes('holding\n')) {
        onLine()
        onLine = null
      }
    })
    proc.stderr.on('data', (d) => { err += d })
    proc.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1)
      try {
        resolve({ code, ...JSON.parse(last) })
      } catch {
        reject(new Error(`child printed ${JSON.stringify(out)} ${err}`))
      }
    })
  })
}

test('two processes writing one file lose nothing', { timeout: 120_000 }, async () => {
  const path = dbPath('two-processes')
  const N = 50_000
  assert.equal((await run([path, 'setup', 'setup', '0', '5000'])).ok, 1)
  const results = await Promise.all(['a', 'b'].map((who) => run([path, 'write', who, String(N), '10000'])))
  for (const r of results) {
    assert.equal(r.code, 0, JSON.stringify(r))
    assert.deepEqual(r.errors, {}, `${r.who} saw errors`)
    assert.equal(r.ok, N)
  }
  const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1 })
  const counts = await pool.read('SELECT who, count(*) AS n, count(DISTINCT i) AS d FROM rows GROUP BY who ORDER BY who')
  assert.deepEqual(counts, [{ who: 'a', n: N, d: N }, { who: 'b', n: N, d: N }])
  await pool.close()
  console.log(JSON.stringify({ processes: 2, rowsEach: N, lost: 0, ms: results.map((r) => r.ms) }))
})

test('a lock held longer than busyTimeout is SQLITE_BUSY; a longer busyTimeout waits it out', { timeout: 120_000 }, async () => {
  const path = dbPath('busy')
  assert.equal((await run([path, 'setup', 'setup', '0', '5000'])).ok, 1)
  let impatient
  let patient
  const holder = run([path, 'hold', 'h', '6000000', '5000'], () => {
    // Give the holder a moment to take the lock, then write from two other processes.
    setTimeout(() => {
      impatient = run([path, 'write', 'impatient', '1', '100'])
      patient = run([path, 'write', 'patient', '1', '60000'])
    }, 150)
  })
  const held = await holder
  assert.equal(held.ok, 1, JSON.stringify(held))
  const [i, p] = await Promise.all([impatient, patient])
  assert.deepEqual(i.errors, { SQLITE_BUSY: 1 }, JSON.stringify(i))
  assert.equal(p.ok, 1, JSON.stringify(p))
  assert.ok(held.ms > 400, `the lock was held only ${held.ms} ms; the check needs longer`)
})
