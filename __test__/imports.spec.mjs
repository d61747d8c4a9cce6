// The package as users import it: ESM and CommonJS, all five entry points, and its types
// compiled with tsc --strict (no skipLibCheck) under nodenext and under CommonJS.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as root from 'swarm-persistence'
import { mcpTools } from 'swarm-persistence/mcp'
import { watch, PoolWatcher } from 'swarm-persistence/events'
import { PoolDialect } from 'swarm-persistence/kysely'
import { drizzle } from 'swarm-persistence/drizzle'
import * as kyselyEsm from 'kysely'
import { TransactionRollbackError } from 'drizzle-orm'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

test('ESM imports of the package, its MCP tools, its events and its adapters', () => {
  assert.equal(typeof root.SQLiteConnectionPool, 'function')
  assert.equal(typeof root.SwarmPersistencePooled, 'function')
  assert.equal(typeof mcpTools, 'function')
  assert.equal(typeof watch, 'function')
  assert.equal(typeof PoolWatcher, 'function')
  assert.ok(!('SqliteConnectionPool' in root), 'no export that is undefined')
  assert.equal(typeof PoolDialect, 'function')
  assert.equal(typeof drizzle, 'function')
})

test('CommonJS requires give the same objects', () => {
  const cjs = require('swarm-persistence')
  assert.equal(cjs.SQLiteConnectionPool, root.SQLiteConnectionPool)
  assert.equal(cjs.SwarmPersistencePooled, root.SwarmPersistencePooled)
  assert.equal(require('swarm-persistence/mcp').mcpTools, mcpTools)
  assert.equal(require('swarm-persistence/events').watch, watch)
  assert.equal(cjs.copyToPostgres, root.copyToPostgres)
  assert.equal(typeof cjs.copyToPostgres, 'function')
  assert.deepEqual(Object.keys(cjs).sort(), ['SQLiteConnectionPool', 'SwarmPersistencePooled', 'copyToPostgres'])
  assert.deepEqual(Object.keys(require('swarm-persistence/kysely')), ['PoolDialect'])
  assert.deepEqual(Object.keys(require('swarm-persistence/drizzle')), ['drizzle'])
})

// Each adapter is made over the copy of its library that its own module system loads, so what
// it hands back (Kysely's compiler, Drizzle's errors) is the caller's own class.
test('the adapters use the ESM copy of their library from import, the CommonJS copy from require', async () => {
  const pool = new root.SQLiteConnectionPool(':memory:')
  try {
    const kyselyCjs = require('kysely')
    assert.notEqual(kyselyCjs.SqliteQueryCompiler, kyselyEsm.SqliteQueryCompiler, 'Kysely has two copies')
    for (const [Dialect, kysely] of [[PoolDialect, kyselyEsm], [require('swarm-persistence/kysely').PoolDialect, kyselyCjs]]) {
      const dialect = new Dialect({ pool })
      assert.ok(dialect.createQueryCompiler() instanceof kysely.SqliteQueryCompiler)
      assert.ok(dialect.createAdapter() instanceof kysely.SqliteAdapter)
    }
    for (const [make, RollbackError] of [
      [drizzle, TransactionRollbackError],
      [require('swarm-persistence/drizzle').drizzle, require('drizzle-orm').TransactionRollbackError],
    ]) {
      await assert.rejects(make(pool).transaction(async (tx) => tx.rollback()), (err) => err instanceof RollbackError)
    }
  } finally {
    await pool.close()
  }
})

test('without kysely or drizzle-orm installed, their entry points say how to install them', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-nopeer-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const folder of ['lib', 'kysely', 'drizzle']) {
    mkdirSync(join(dir, folder))
    for (const file of readdirSync(join(here, '..', folder))) copyFileSync(join(here, '..', folder, file), join(dir, folder, file))
  }
  for (const peer of ['kysely', 'drizzle-orm/sqlite-proxy']) {
    try {
      require.resolve(peer, { paths: [dir] })
      return t.skip(`${peer} is installed above the temporary directory`)
    } catch {}
  }
  for (const [entry, peer] of [['kysely', 'kysely'], ['drizzle', 'drizzle-orm']]) {
    const run = spawnSync(process.execPath, ['-e', `
      try { require(${JSON.stringify(join(dir, entry))}) } catch (err) { console.log(err.code, err.message) }
    `], { encoding: 'utf8' })
    assert.equal(run.stderr, '')
    assert.match(run.stdout, new RegExp(`^PEER_DEPENDENCY_MISSING swarm-persistence/${entry} needs ${peer}, which is not installed: run \`npm install ${peer}\``))
  }
})

for (const config of ['nodenext', 'commonjs']) {
  test(`the public surface type-checks with tsc --strict under ${config}`, () => {
    const tsc = join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc')
    const run = spawnSync(process.execPath, [tsc, '-p', join(here, 'types', `tsconfig.${config}.json`)], { cwd: join(here, '..'), encoding: 'utf8', timeout: 300_000 })
    // drizzle-orm's own declarations do not compile without skipLibCheck (they import its
    // optional peers, mysql2, gel, …); any other diagnostic, in our types above all, fails.
    const ours = run.stdout.split('\n').filter((line) => /error TS\d+/.test(line) && !line.startsWith('node_modules/drizzle-orm/'))
    assert.deepEqual(ours, [], `${run.stdout}${run.stderr}`)
    assert.equal(run.stderr, '')
    assert.ok([0, 1, 2].includes(run.status), `tsc exited ${run.status}`)
  })
}
