// Defects found by attacking the pool from outside, each kept as a test: ATTACH through a
// parameter, a backup racing an open of its destination, relative paths after chdir, a full
// quota in a group, a moved file and shared engines, VACUUM INTO, orphaned :memory: folders,
// timeout and latency accounting, values JSON cannot hold.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { addon, dbPath, rejectsWith, throwsWith } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const entry = JSON.stringify(new URL('../lib/index.js', import.meta.url).pathname)
const small = { maxReaders: 1, maxWorkers: 1 }

test('ATTACH and DETACH are refused however the file name is given', async () => {
  const path = dbPath('attach-param')
  const pool = new SQLiteConnectionPool(path, small)
  const evil = join(dirname(path), 'evil.db')
  await rejectsWith(pool.write('ATTACH ? AS x', [evil]), 'INVALID_ARGUMENT', /ATTACH/)
  await rejectsWith(pool.read('ATTACH ? AS r', [evil]), 'INVALID_ARGUMENT', /ATTACH/)
  await rejectsWith(pool.read("ATTACH '/etc/' || 'hostname' AS y"), 'INVALID_ARGUMENT', /ATTACH/)
  await rejectsWith(pool.write('DETACH ?', ['main']), 'INVALID_ARGUMENT', /DETACH/)
  await rejectsWith(pool.write("VACUUM INTO ?", [evil]), 'INVALID_ARGUMENT')
  await rejectsWith(pool.write(`VACUUM INTO '${evil}'`), 'INVALID_ARGUMENT')
  assert.equal(existsSync(evil), false, 'no file was created')
  await pool.close()
})

test('a database cannot be opened where a backup is being written, and a backup never replaces one', async () => {
  const source = new SQLiteConnectionPool(dbPath('backup-race'), small)
  await source.write('CREATE TABLE big(v)')
  await source.write('INSERT INTO big SELECT randomblob(4000) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) SELECT x FROM c)')
  const dest = join(dirname(source.path), 'copy.db')
  let finished = false
  const backup = source.backup(dest).then(
    () => 'done',
    (e) => e.code,
  ).finally(() => { finished = true })
  await new Promise((r) => setTimeout(r, 20))
  let acknowledged = 0
  let refused = 0
  // Keep trying to open the destination and write to it while the copy is made.
  while (!finished) {
    try {
      const other = new SQLiteConnectionPool(dest, small)
      await other.write('CREATE TABLE IF NOT EXISTS important(v)')
      await other.write("INSERT INTO important VALUES ('must survive')")
      acknowledged++
      await other.close()
    } catch (e) {
      assert.equal(e.code, 'SQLITE_CANTOPEN', e.message)
      refused++
    }
    await new Promise((r) => setTimeout(r, 2))
  }
  const outcome = await backup
  const check = new SQLiteConnectionPool(dest, small)
  const tables = (await check.read("SELECT name FROM sqlite_schema WHERE type = 'table'")).map((r) => r.name)
  if (acknowledged > 0) {
    assert.ok(tables.includes('important'), `${acknowledged} acknowledged writes were replaced by the backup (${outcome})`)
    assert.equal((await check.get('SELECT count(*) AS n FROM important')).n, acknowledged)
  } else {
    assert.equal(outcome, 'done')
    assert.deepEqual(tables, ['big'])
  }
  assert.ok(refused > 0 || acknowledged > 0, 'the destination was tried during the copy')
  await Promise.all([check.close(), source.close()])
})

test('relative paths keep naming the same file after process.chdir()', () => {
  const dir = dirname(dbPath('chdir'))
  const script = `
    const { SQLiteConnectionPool, SwarmPersistencePooled } = require(${entry})
    const { mkdirSync } = require('node:fs')
    mkdirSync(${JSON.stringify(join(dir, 'a'))}, { recursive: true }); mkdirSync(${JSON.stringify(join(dir, 'b'))}, { recursive: true })
    process.chdir(${JSON.stringify(join(dir, 'a'))})
    const pool = new SQLiteConnectionPool('rel.db', { maxReaders: 1, maxWorkers: 1 })
    const p = new SwarmPersistencePooled()
    ;(async () => {
      await pool.write('CREATE TABLE t(x)')
      await p.initialize()
      process.chdir(${JSON.stringify(join(dir, 'b'))})
      await pool.write('INSERT INTO t VALUES (1)')
      await p.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 })
      console.log(JSON.stringify([(await pool.get('SELECT count(*) AS n FROM t')).n, (await p.getActiveSwarms()).length, pool.isHealthy, p.isHealthy()]))
      await pool.close(); await p.close()
    })()`
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, POOL_DB_PATH: '' } })
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), [1, 1, true, true])
  assert.equal(existsSync(join(dir, 'b', 'rel.db')), false, 'no second database appeared')
})

test('a write that does not fit fails alone; the writes queued with it that fit commit', async () => {
  const pool = new SQLiteConnectionPool(dbPath('quota'), small)
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v)')
  await pool.write('PRAGMA max_page_count = 64')
  const smallWrites = Array.from({ length: 10 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`s${i}`]))
  const big = pool.write('INSERT INTO t(v) VALUES (zeroblob(1000000))')
  const results = await Promise.allSettled([...smallWrites, big])
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason.code)), [...Array(10).fill('ok'), 'SQLITE_FULL'])
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, 10)
  await pool.close()
})

test('a moved file: health false at once, other leases close cleanly, reopening gets a fresh engine', async () => {
  const path = dbPath('moved-shared')
  const a = new SQLiteConnectionPool(path, small)
  const b = new SQLiteConnectionPool(path, small)
  await a.write('CREATE TABLE t(x)')
  unlinkSync(path)
  rmSync(`${path}-wal`, { force: true })
  await rejectsWith(a.write('INSERT INTO t VALUES (1)'), 'SQLITE_READONLY_DBMOVED')
  assert.equal(a.isHealthy, false)
  assert.equal(b.isHealthy, false)
  await b.close()
  const c = new SQLiteConnectionPool(path, small)
  await c.write('CREATE TABLE t(x)')
  await c.write('INSERT INTO t VALUES (1)')
  assert.equal((await c.get('SELECT count(*) AS n FROM t')).n, 1)
  assert.equal(c.isHealthy, true)
  await Promise.all([a.close(), c.close()])
})

test(':memory: folders left by a killed process are removed by the next one', () => {
  const script = `
    const { SQLiteConnectionPool } = require(${entry})
    const pool = new SQLiteConnectionPool(':memory:', { maxReaders: 1, maxWorkers: 1 })
    pool.write('CREATE TABLE t(x)').then(() => { console.log(pool.path); process.kill(process.pid, 'SIGKILL') })`
  const killed = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 })
  const left = dirname(killed.stdout.trim())
  assert.ok(left.startsWith(tmpdir()) && existsSync(left), `left behind: ${left}`)
  const pool = new SQLiteConnectionPool(':memory:', small)
  assert.equal(existsSync(left), false, 'removed when the next :memory: database was made')
  return pool.close()
})

test('timeouts count query timeouts; each write reports its own run time, not its group’s', async () => {
  const pool = new SQLiteConnectionPool(dbPath('accounting'), { ...small, queryTimeout: 100 })
  await pool.write('CREATE TABLE t(x)')
  const slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) INSERT INTO t SELECT max(x) FROM c"
  const results = await Promise.allSettled([pool.write(slow), ...Array.from({ length: 50 }, (_, i) => pool.write('INSERT INTO t VALUES (?)', [i]))])
  assert.equal(results[0].reason.code, 'QUERY_TIMEOUT')
  assert.ok(results.slice(1).every((r) => r.status === 'fulfilled'))
  const stats = pool.getStats()
  assert.equal(stats.timeouts, 1)
  assert.equal(stats.errors.QUERY_TIMEOUT, 1)
  assert.ok(stats.latencyMs.write.exec.p50 < 50, `p50 exec ${stats.latencyMs.write.exec.p50} ms`)
  await pool.close()
})

test('values JSON cannot hold are refused, not stored as null', async () => {
  const p = new SwarmPersistencePooled(dbPath('undefined-values'), small)
  await p.createAgent({ id: 'a', name: 'n', type: 't' })
  for (const value of [undefined, () => 1, Symbol('s')]) await rejectsWith(p.storeMemory('a', 'k', value), 'INVALID_ARGUMENT', /JSON/)
  await rejectsWith(p.storeMemory('a', 'k'), 'INVALID_ARGUMENT')
  await p.storeMemory('a', 'k', null)
  assert.equal((await p.getMemory('a', 'k')).value, null)
  assert.equal((await p.getAllMemory('a')).length, 1)
  await p.close()
})

test('a backup destination that is a folder is refused before copying', async () => {
  const pool = new SQLiteConnectionPool(dbPath('backup-dir'), small)
  await pool.write('CREATE TABLE t(x)')
  await rejectsWith(pool.backup(dirname(pool.path)), 'INVALID_ARGUMENT', /folder/)
  assert.ok(readdirSync(dirname(pool.path)).every((name) => !name.includes('sp-backup')))
  await pool.close()
  throwsWith(() => new SQLiteConnectionPool(''), 'INVALID_ARGUMENT')
})
