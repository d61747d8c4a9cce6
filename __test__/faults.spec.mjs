// Faults: a full disk, the file deleted or replaced under an open pool, a corrupt file, a
// read-only directory, a missing directory.
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { addon, dbPath, rejectsWith, require, throwsWith } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

test('a full disk fails the writes that do not fit; reads go on and writes resume once space frees', async () => {
  const pool = new SQLiteConnectionPool(dbPath('full'), { maxReaders: 1, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)')
  // max_page_count caps the file like a full disk would: SQLITE_FULL on the writes that do not fit.
  await pool.write('PRAGMA max_page_count = 40')
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => pool.write('INSERT INTO t(b) VALUES (zeroblob(4000))')))
  const ok = results.filter((r) => r.status === 'fulfilled').length
  const codes = new Set(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code))
  assert.ok(ok > 0 && ok < 100, `${ok} fitted`)
  assert.deepEqual([...codes], ['SQLITE_FULL'])
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, ok, 'exactly the acknowledged writes are there')
  await pool.write('PRAGMA max_page_count = 1000000')
  await pool.write('INSERT INTO t(b) VALUES (zeroblob(4000))')
  assert.equal((await pool.get('SELECT count(*) AS n FROM t')).n, ok + 1)
  assert.equal(pool.getStats().errors.SQLITE_FULL, 100 - ok)
  await pool.close()
})

for (const how of ['deleted', 'replaced']) {
  test(`a database file ${how} while open: writes are refused, never acknowledged into a lost file`, async () => {
    const path = dbPath(`moved-${how}`)
    const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1, healthCheckInterval: 20 })
    await pool.write('CREATE TABLE t(x)')
    await pool.write('INSERT INTO t VALUES (1)')
    if (how === 'deleted') for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true })
    else {
      const other = join(dirname(path), 'other.db')
      copyFileSync(path, other)
      renameSync(other, path)
    }
    await rejectsWith(pool.write('INSERT INTO t VALUES (2)'), 'SQLITE_READONLY_DBMOVED', /deleted or replaced/)
    assert.deepEqual(await pool.read('SELECT x FROM t'), [{ x: 1 }], 'reads still answer')
    for (let i = 0; i < 100 && pool.isHealthy; i++) await sleep(10)
    assert.equal(pool.isHealthy, false)
    await pool.close()
    assert.equal(existsSync(path), how === 'replaced', 'no empty database was created in its place')
  })
}

test('a corrupt file is a clear error at open, not a crash', async () => {
  const path = dbPath('corrupt')
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, Buffer.alloc(8192, 0x5a))
  throwsWith(() => new SQLiteConnectionPool(path), 'SQLITE_NOTADB', /corrupt\.db|test\.db/)
  const p = new SwarmPersistencePooled(path)
  await rejectsWith(p.initialize(), 'SQLITE_NOTADB')
  await rejectsWith(p.getAgent('a'), 'SQLITE_NOTADB')
})

test('a path in missing directories is created', async () => {
  const path = join(dirname(dbPath('nested')), 'a', 'b', 'c', 'swarm.db')
  const p = new SwarmPersistencePooled(path)
  await p.initialize()
  await p.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 })
  await p.close()
  assert.ok(existsSync(path))
})

/** Makes `dir` unwritable even for root when possible (chattr +i); returns how to undo it. */
function readOnly(dir) {
  if (process.getuid() !== 0) {
    chmodSync(dir, 0o555)
    return { undo: () => chmodSync(dir, 0o755), asUser: null }
  }
  if (spawnSync('chattr', ['+i', dir]).status === 0) return { undo: () => execFileSync('chattr', ['-i', dir]), asUser: null }
  // Without the immutable flag, run the check as an unprivileged user on a 0555 directory.
  chmodSync(dir, 0o555)
  return { undo: () => chmodSync(dir, 0o755), asUser: 65534 }
}

test('a read-only directory is a clear error, not a crash', (t) => {
  const dir = join(dirname(dbPath('readonly')), 'ro')
  mkdirSync(dir, { recursive: true })
  const { undo, asUser } = readOnly(dir)
  t.after(undo)
  const addonPath = require.resolve('../lib/index.js')
  const script = `try { new (require(${JSON.stringify(addonPath)}).SQLiteConnectionPool)(${JSON.stringify(join(dir, 'x.db'))}); console.log('opened') }
    catch (e) { console.log(e.code) }`
  const options = { encoding: 'utf8', timeout: 10_000, ...(asUser === null ? {} : { uid: asUser, gid: asUser }) }
  const out = spawnSync(process.execPath, ['-e', script], options)
  assert.equal(out.status, 0, out.stderr)
  assert.equal(out.stdout.trim(), 'SQLITE_CANTOPEN')
  assert.equal(existsSync(join(dir, 'x.db')), false)
})
