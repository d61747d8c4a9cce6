// The package as users import it: ESM and CommonJS, all three entry points, and its types
// compiled with tsc --strict (no skipLibCheck) under nodenext and under CommonJS.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import * as root from 'swarm-persistence'
import { mcpTools } from 'swarm-persistence/mcp'
import { watch, PoolWatcher } from 'swarm-persistence/events'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

test('ESM imports of the package, its MCP tools and its events', () => {
  assert.equal(typeof root.SQLiteConnectionPool, 'function')
  assert.equal(typeof root.SwarmPersistencePooled, 'function')
  assert.equal(typeof mcpTools, 'function')
  assert.equal(typeof watch, 'function')
  assert.equal(typeof PoolWatcher, 'function')
  assert.ok(!('SqliteConnectionPool' in root), 'no export that is undefined')
})

test('CommonJS requires give the same objects', () => {
  const cjs = require('swarm-persistence')
  assert.equal(cjs.SQLiteConnectionPool, root.SQLiteConnectionPool)
  assert.equal(cjs.SwarmPersistencePooled, root.SwarmPersistencePooled)
  assert.equal(require('swarm-persistence/mcp').mcpTools, mcpTools)
  assert.equal(require('swarm-persistence/events').watch, watch)
  assert.deepEqual(Object.keys(cjs).sort(), ['SQLiteConnectionPool', 'SwarmPersistencePooled'])
})

for (const config of ['nodenext', 'commonjs']) {
  test(`the public surface type-checks with tsc --strict under ${config}`, () => {
    const tsc = join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc')
    const run = spawnSync(process.execPath, [tsc, '-p', join(here, 'types', `tsconfig.${config}.json`)], { encoding: 'utf8', timeout: 120_000 })
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`)
  })
}
