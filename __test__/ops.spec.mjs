// Operations from JavaScript: metrics() in Prometheus format, online backups, scheduled backups,
// and pool events.
import test from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { addon, dbPath, rejectsWith, require, slowCount, throwsWith } from './helpers.mjs'
import { parsePrometheus } from './prometheus.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon
const { watch } = require('../events')

function sample(families, family, name, labels = {}) {
  const found = families.get(family)?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  assert.ok(found, `${name} ${JSON.stringify(labels)} missing`)
  return found.value
}

test('the strict Prometheus parser rejects what Prometheus rejects', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n'
  assert.equal(parsePrometheus(ok).get('a_total').samples[0].value, 3)
  const bad = [
    'a_total 1\n', // no TYPE
    '# TYPE a_total counter\na_total{x="1} 3\n', // unterminated label
    '# TYPE a_total counter\na_total -1\n', // negative counter
    '# TYPE a gauge\na 1', // no final newline
    '# TYPE a gauge\na 1\na 2\n', // duplicate series
    '# TYPE a gauge\na one\n', // bad value
    '# TYPE a gauge\n# TYPE b gauge\nb 1\na 1\n', // family split
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
  ]
  for (const text of bad) assert.throws(() => parsePrometheus(text), undefined, JSON.stringify(text))
})

test('metrics() is valid Prometheus text whose counts match the work done', async () => {
  const pool = new SQLiteConnectionPool(dbPath('metrics'), { maxReaders: 2, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)')
  await Promise.all(Array.from({ length: 300 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`v${i}`])))
  await Promise.all(Array.from({ length: 200 }, (_, i) => pool.get('SELECT v FROM t WHERE id = ?', [i + 1])))
  await pool.executeInWorker(slowCount(10_000))
  await rejectsWith(pool.write('INSERT INTO t(v) VALUES (?)', ['v1']), 'SQLITE_CONSTRAINT_UNIQUE')
  const families = parsePrometheus(pool.metrics())
  const op = (type, result) => sample(families, 'swarm_pool_operations_total', 'swarm_pool_operations_total', { pool_type: type, result })
  assert.equal(op('write', 'ok'), 301)
  assert.equal(op('write', 'error'), 1)
  assert.equal(op('read', 'ok'), 200)
  assert.equal(op('worker', 'ok'), 1)
  assert.equal(sample(families, 'swarm_pool_errors_total', 'swarm_pool_errors_total', { code: 'SQLITE_CONSTRAINT_UNIQUE' }), 1)
  assert.equal(sample(families, 'swarm_pool_exec_seconds', 'swarm_pool_exec_seconds_count', { pool_type: 'read' }), 200)
  assert.equal(sample(families, 'swarm_pool_exec_seconds', 'swarm_pool_exec_seconds_bucket', { pool_type: 'read', le: '+Inf' }), 200)
  assert.equal(families.get('swarm_pool_exec_seconds').type, 'histogram')
  const commits = sample(families, 'swarm_pool_commits_total', 'swarm_pool_commits_total')
  assert.ok(commits >= 1 && commits < 302, `commits ${commits}`)
  assert.equal(sample(families, 'swarm_pool_commit_batch_size', 'swarm_pool_commit_batch_size_count'), commits)
  assert.equal(sample(families, 'swarm_pool_healthy', 'swarm_pool_healthy'), 1)
  assert.equal(sample(families, 'swarm_pool_connections', 'swarm_pool_connections'), 4)
  await pool.close()

  const p = new SwarmPersistencePooled(dbPath('metrics-p'))
  assert.equal(sample(parsePrometheus(p.metrics()), 'swarm_pool_healthy', 'swarm_pool_healthy'), 0)
  await p.initialize()
  assert.equal(sample(parsePrometheus(p.metrics()), 'swarm_pool_healthy', 'swarm_pool_healthy'), 1)
  await p.close()
})

test('backup() copies a consistent database while writes go on', async () => {
  const path = dbPath('backup')
  const pool = new SQLiteConnectionPool(path, { maxReaders: 1, maxWorkers: 1 })
  await pool.write('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)')
  await Promise.all(Array.from({ length: 1_000 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`v${i}`])))
  const during = Array.from({ length: 2_000 }, (_, i) => pool.write('INSERT INTO t(v) VALUES (?)', [`w${i}`]))
  const dest = join(dirname(path), 'copies', 'one.db')
  const made = await pool.backup(dest)
  await Promise.all(during)
  assert.equal(made.path, dest)
  assert.equal(made.integrity, 'ok')
  assert.ok(made.pages > 1 && made.bytes > 0 && made.durationMs >= 0)
  assert.ok(!Number.isNaN(Date.parse(made.startedAt)))
  assert.deepEqual(readdirSync(dirname(dest)), ['one.db'])
  const copy = new SQLiteConnectionPool(dest, { maxReaders: 1, maxWorkers: 1 })
  const { n } = await copy.get('SELECT count(*) AS n FROM t')
  assert.ok(n >= 1_000 && n <= 3_000, `rows ${n}`)
  // The copy is a snapshot: its rows are exactly the first n committed, with no gap.
  assert.equal((await copy.get('SELECT max(id) AS m FROM t')).m, n)
  await copy.close()
  assert.equal(pool.getStats().backups.completed, 1)
  await rejectsWith(pool.backup(42), 'INVALID_ARGUMENT', /destPath/)
  await rejectsWith(pool.backup(''), 'INVALID_ARGUMENT', /destPath/)
  await pool.close()
  await rejectsWith(pool.backup(dest), 'POOL_CLOSED')
})

test('scheduled backups rotate, and watch() reports them and health changes', async () => {
  const path = dbPath('scheduled')
  const backupDir = join(dirname(path), 'backups')
  const p = new SwarmPersistencePooled(path, { enableBackup: true, backupInterval: 1_000, backupDir, backupKeep: 1, healthCheckInterval: 30, maxWorkers: 1 })
  await p.initialize()
  await p.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 1 })
  throwsWith(() => watch({}), 'INVALID_ARGUMENT')
  throwsWith(() => watch(p, { interval: 0 }), 'INVALID_ARGUMENT')
  const watcher = watch(p, { interval: 10 })
  // The watcher and an idle pool never hold the event loop open; the test does, while it waits.
  const keepAlive = setInterval(() => {}, 1_000)
  const [first] = await once(watcher, 'backup')
  assert.equal(first.integrity, 'ok')
  assert.ok(existsSync(first.path))
  await once(watcher, 'backup')
  assert.equal(readdirSync(backupDir).length, 1, 'backupKeep: 1 keeps one file')
  await once(watcher, 'health')
  // A worker stuck longer than two health intervals makes the pool unhealthy, then it recovers.
  const stuck = p.pool.executeInWorker(slowCount(3_000_000))
  const [sick] = await once(watcher, 'unhealthy')
  assert.equal(sick.healthy, false)
  await stuck
  const [well] = await once(watcher, 'recovered')
  assert.equal(well.healthy, true)
  const closed = once(watcher, 'close')
  await p.close()
  await closed
  clearInterval(keepAlive)
})

test('a watched pool that is never closed lets the process exit', () => {
  const dir = dirname(dbPath('watch-exit'))
  mkdirSync(dir, { recursive: true })
  const script = `const { SQLiteConnectionPool } = require(${JSON.stringify(require.resolve('../lib/index.js'))})
    const { watch } = require(${JSON.stringify(require.resolve('../events'))})
    const pool = new SQLiteConnectionPool(${JSON.stringify(join(dir, 'db'))}, { enableBackup: true, backupInterval: 1000, backupDir: ${JSON.stringify(join(dir, 'b'))} })
    watch(pool, { interval: 5 }).on('health', () => {})
    pool.write('CREATE TABLE t(x)').then(() => console.log('written'))`
  const out = execFileSync(process.execPath, ['-e', script], { timeout: 10_000, encoding: 'utf8' })
  assert.equal(out.trim(), 'written')
})
