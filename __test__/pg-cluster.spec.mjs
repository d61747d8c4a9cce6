// The PostgreSQL that the Postgres specs run against: `npm test` runs under bin/with-postgres.js,
// which sets POOL_TEST_PG_URL (a throwaway cluster, or the URL given), and bin/pg-cluster.js starts
// further clusters for tests that need their own. Without PostgreSQL these tests skip (and
// with-postgres has said so loudly); under CI=true they fail instead.
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'

const require = createRequire(import.meta.url)
const { findBinDir, start, stop } = require('../bin/pg-cluster.js')
const withPostgres = join(dirname(new URL(import.meta.url).pathname), '..', 'bin', 'with-postgres.js')
const url = process.env.POOL_TEST_PG_URL

/** What `psql` prints for one statement, as unaligned tuples. */
function psql(target, sql) {
  return execFileSync('psql', ['-X', '-At', '-c', sql, target], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

/** Skips a test that needs PostgreSQL; under CI=true, which must run them all, fails it. */
function noPostgres(t, why) {
  if (process.env.CI === 'true') assert.fail(`CI=true and no PostgreSQL: ${why} (apt-get install postgresql, or set POOL_TEST_PG_URL)`)
  t.skip(`no PostgreSQL: ${why}`)
}

/** Whether the server programs are here, for the tests that start clusters of their own. */
function serverInstalled(t) {
  if (findBinDir()) return true
  noPostgres(t, 'no initdb/pg_ctl found')
  return false
}

/** The environment for a with-postgres that is to start a cluster: ours less the URL it would reuse. */
function ownCluster() {
  const env = { ...process.env }
  delete env.POOL_TEST_PG_URL
  delete env.POOL_TEST_PG_LOG
  return env
}

test('the database at POOL_TEST_PG_URL answers', (t) => {
  if (!url) return noPostgres(t, 'POOL_TEST_PG_URL is not set')
  assert.equal(psql(url, 'select 1'), '1')
})

test("with-postgres's throwaway cluster runs with the test settings", (t) => {
  if (!url) return noPostgres(t, 'POOL_TEST_PG_URL is not set')
  // POOL_TEST_PG_LOG comes with a cluster with-postgres started; a server of your own is as you set it.
  if (!process.env.POOL_TEST_PG_LOG) return t.skip('POOL_TEST_PG_URL was given: a server of your own')
  assert.equal(psql(url, 'show fsync'), 'off')
  assert.equal(psql(url, 'show synchronous_commit'), 'off')
  assert.equal(psql(url, 'show full_page_writes'), 'off')
  assert.equal(psql(url, 'show listen_addresses'), '127.0.0.1')
  assert.equal(psql(url, 'show max_connections'), '200')
  assert.equal(psql(url, 'select current_database()'), 'swarm_test')
})

test('pg-cluster start() gives a second cluster on another port, and stop() removes its folder', async (t) => {
  if (!serverInstalled(t)) return
  const cluster = await start()
  try {
    if (url) assert.notEqual(cluster.port, Number(new URL(url).port))
    assert.equal(psql(cluster.url, 'select 1'), '1')
    assert.equal(psql(cluster.url, 'show fsync'), 'off')
    assert.ok(existsSync(cluster.dir))
  } finally {
    stop(cluster)
  }
  assert.equal(existsSync(cluster.dir), false, 'the folder is removed')
  assert.throws(() => psql(cluster.url, 'select 1'), 'nothing answers on its port any more')
  stop(cluster) // a second stop does nothing
})

test("with-postgres starts its own cluster, passes the command's exit code on, and cleans up", async (t) => {
  if (!serverInstalled(t)) return
  const child = spawn(process.execPath, [withPostgres, process.execPath, '-e', `
    const { execFileSync } = require('node:child_process')
    const url = process.env.POOL_TEST_PG_URL
    console.log(JSON.stringify({ url, log: process.env.POOL_TEST_PG_LOG, one: execFileSync('psql', ['-XAtc', 'select 1', url], { encoding: 'utf8' }).trim() }))
    process.exit(3)
  `], { env: ownCluster(), stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  const [code] = await once(child, 'close')
  const seen = JSON.parse(out)
  assert.equal(code, 3)
  assert.notEqual(seen.url, url, 'a cluster of its own, not the one it runs under')
  assert.equal(seen.one, '1')
  assert.equal(existsSync(dirname(seen.log)), false, 'the folder is removed')
  assert.throws(() => psql(seen.url, 'select 1'), 'the server is stopped')
})

test('with-postgres interrupted by SIGINT stops the command and the cluster, and exits 130', async (t) => {
  if (!serverInstalled(t)) return
  // The command waits for its stdin to end, which it also does if this test process dies.
  const child = spawn(process.execPath, [withPostgres, process.execPath, '-e', `
    console.log(process.env.POOL_TEST_PG_LOG)
    process.stdin.resume()
  `], { env: ownCluster(), stdio: ['pipe', 'pipe', 'inherit'] })
  const [log] = await once(createInterface({ input: child.stdout }), 'line')
  assert.ok(existsSync(log), 'the cluster runs while the command does')
  child.kill('SIGINT')
  const [code] = await once(child, 'close')
  assert.equal(code, 130)
  assert.equal(existsSync(dirname(log)), false, 'the folder is removed')
})
