// The packages as npm would publish them, installed the way a user installs them: packed by
// bin/pack.js, installed into fresh projects from the tarballs, with `cargo` hidden from PATH
// (the prebuilt binary is all there is), without the platform package (the error says what to
// do), and without the platform package but with cargo (built from the packed sources).
// PACK_GLIBC=2.17 packs an addon built by cargo-zigbuild against that glibc (CI does).
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const { version, devDependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const sdk = `@modelcontextprotocol/sdk@${devDependencies['@modelcontextprotocol/sdk']}`
const BINARY = 'swarm-persistence.linux-x64-gnu.node'

/** PATH without any directory holding a `cargo` (or `rustc`): a machine with no Rust toolchain. */
const noRust = process.env.PATH.split(delimiter)
  .filter((dir) => dir && !existsSync(join(dir, 'cargo')) && !existsSync(join(dir, 'rustc')))
  .join(delimiter)

const glibc = process.env.PACK_GLIBC
const packed = JSON.parse(
  execFileSync(process.execPath, [join(root, 'bin', 'pack.js'), '--out', join(root, 'dist'), ...(glibc ? ['--glibc', glibc] : [])], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
)

const projects = []
/** A fresh project with the given packages installed; returns its folder and npm's output. */
function project(packages, { path = noRust, omitOptional = false, env = {}, files = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sp-install-'))
  projects.push(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true })
    writeFileSync(join(dir, file), text)
  }
  const npm = spawnSync(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', ...(omitOptional ? ['--omit=optional'] : []), ...packages],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: path, ...env } },
  )
  return { dir, npm, output: `${npm.stdout}\n${npm.stderr}` }
}

/** Runs `source` as a module file of the project, with cargo hidden; returns stdout. */
function runIn(dir, file, source) {
  writeFileSync(join(dir, file), source)
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: noRust } })
}

const ROUND_TRIP_ESM = `
import { SQLiteConnectionPool } from 'swarm-persistence'
const pool = new SQLiteConnectionPool('./rt-esm.db')
await pool.write('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)')
const w = await pool.write('INSERT INTO t (v) VALUES (?)', ['esm round trip'])
const rows = await pool.read('SELECT v FROM t WHERE id = ?', [w.lastInsertRowid])
await pool.close()
console.log(JSON.stringify(rows))
`
const ROUND_TRIP_CJS = `
const { SwarmPersistencePooled } = require('swarm-persistence')
;(async () => {
  const db = new SwarmPersistencePooled('./rt-cjs.db')
  await db.initialize()
  await db.createSwarm({ id: 's1', name: 'cjs', topology: 'mesh', maxAgents: 2 })
  await db.createAgent({ id: 'agent-1', swarmId: 's1', name: 'A', type: 'coder' })
  await db.storeMemory('agent-1', 'k', { n: 42, s: 'cjs' })
  const back = await db.getMemory('agent-1', 'k')
  await db.close()
  console.log(JSON.stringify(back.value))
})()
`

test.after(() => {
  for (const dir of projects) rmSync(dir, { recursive: true, force: true })
})

test('the packed platform package carries one stripped addon that needs an old glibc', () => {
  const listing = execFileSync('tar', ['tzf', packed['linux-x64-gnu']], { encoding: 'utf8' }).trim().split('\n').sort()
  assert.deepEqual(listing, ['package/README.md', 'package/package.json', `package/${BINARY}`])
  const main = execFileSync('tar', ['tzf', packed.main], { encoding: 'utf8' })
  assert.doesNotMatch(main, /\.node\n/, 'the main package carries no binary')
  for (const file of ['package/Cargo.lock', 'package/Cargo.toml', 'package/src/lib.rs', 'package/index.d.ts', 'package/bin/install.js']) {
    assert.ok(main.includes(`${file}\n`), `${file} is packed`)
  }
  // The checkout's own tooling stays out: building, packing, CI helpers.
  for (const file of ['bin/pack.js', 'bin/build.js', 'bin/check-generated.js', 'bin/ensure-built.js', 'bin/ensure-deps.js']) {
    assert.ok(!main.includes(`package/${file}\n`), `${file} is not packed`)
  }
  const manifest = JSON.parse(execFileSync('tar', ['xzfO', packed.main, 'package/package.json'], { encoding: 'utf8' }))
  assert.deepEqual(manifest.optionalDependencies, { 'swarm-persistence-linux-x64-gnu': version })
  if (glibc) assert.equal(packed.glibc, glibc, `built against glibc ${glibc}`)
  // A strong reference without a version is a function the glibc linked against lacks (gettid
  // in 2.17): the addon would fail to load there with "undefined symbol".
  const addon = execFileSync('tar', ['xzfO', packed['linux-x64-gnu'], `package/${BINARY}`], { encoding: 'buffer', maxBuffer: 64 << 20 })
  const extracted = join(mkdtempSync(join(tmpdir(), 'sp-addon-')), BINARY)
  projects.push(join(extracted, '..'))
  writeFileSync(extracted, addon)
  const unversioned = execFileSync('objdump', ['-T', extracted], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .map((line) => /^[0-9a-f]+ (.{7}) \*UND\*\s+[0-9a-f]+\s+(\(\S+\)\s+)?(\S+)$/.exec(line))
    .filter((m) => m && !m[2] && !m[1].includes('w'))
    .map((m) => m[3])
  assert.deepEqual(unversioned, [], 'every function the addon takes from the C library has a glibc version')
  // TLS to PostgreSQL is rustls: the addon must load where no (or another) OpenSSL is installed.
  const needed = [...execFileSync('objdump', ['-p', extracted], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .matchAll(/^\s*NEEDED\s+(\S+)$/gm)].map((m) => m[1])
  assert.ok(needed.length > 0, 'objdump lists the libraries the addon needs')
  assert.deepEqual(needed.filter((lib) => /^lib(ssl|crypto)\b/.test(lib)), [], `no OpenSSL among ${needed}`)
})

test('installed from the tarballs with no Rust toolchain: write/read, the CLI, the MCP tool list', async () => {
  const { dir, npm, output } = project([packed.main, packed['linux-x64-gnu'], sdk])
  assert.equal(npm.status, 0, output)
  assert.doesNotMatch(output, /building the native addon/)
  const installed = join(dir, 'node_modules')
  assert.ok(existsSync(join(installed, 'swarm-persistence-linux-x64-gnu', BINARY)), 'the prebuilt addon is installed')
  assert.ok(!existsSync(join(installed, 'swarm-persistence', BINARY)), 'nothing was built from source')
  const sections = execFileSync('readelf', ['-S', '--wide', join(installed, 'swarm-persistence-linux-x64-gnu', BINARY)], { encoding: 'utf8' })
  assert.doesNotMatch(sections, /\.symtab/, 'the addon is stripped')

  assert.deepEqual(JSON.parse(runIn(dir, 'rt.mjs', ROUND_TRIP_ESM)), [{ v: 'esm round trip' }])
  assert.deepEqual(JSON.parse(runIn(dir, 'rt.cjs', ROUND_TRIP_CJS)), { n: 42, s: 'cjs' })

  const help = spawnSync('npx', ['--no-install', 'swarm-persistence', '--help'], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: noRust } })
  assert.equal(help.status, 0, help.stderr)
  assert.match(help.stdout, /^usage: swarm-persistence/m)
  assert.match(help.stdout, /^\s+mcp\s/m, '--help lists the mcp subcommand')

  const transport = new StdioClientTransport({
    command: 'npx',
    args: ['--no-install', 'swarm-persistence', 'mcp', '--db', join(dir, 'mcp.db')],
    cwd: dir,
    env: { PATH: noRust, HOME: process.env.HOME },
    stderr: 'pipe',
  })
  const client = new Client({ name: 'install-test', version: '1.0.0' })
  await client.connect(transport)
  try {
    const { tools } = await client.listTools()
    const names = tools.map((t) => t.name)
    assert.equal(names.length, 20)
    for (const name of ['pool_health', 'pool_stats', 'persistence_stats', 'memory_store', 'memory_list', 'task_create']) {
      assert.ok(names.includes(name), `${name} is listed`)
    }
    const health = await client.callTool({ name: 'pool_health', arguments: {} })
    assert.equal(health.isError, undefined, JSON.stringify(health))
    assert.equal(health.structuredContent.healthy, true)
  } finally {
    await client.close()
  }
})

test("the README's MCP client registration starts the server on a machine that never ran it", async () => {
  // The args of the README's mcpServers entry, with the tarballs for the package names. A fresh npm
  // cache: npx only asks (and, with no terminal, cancels) when the packages are not in it yet.
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const documented = JSON.parse(/^\s*"args": (\[.*\]),$/m.exec(readme)[1])
  const cache = mkdtempSync(join(tmpdir(), 'sp-npx-cache-'))
  projects.push(cache)
  const db = join(cache, 'mcp.db')
  const args = documented.flatMap((arg, i) => {
    if (arg === '@modelcontextprotocol/sdk') return [sdk]
    if (arg === 'swarm-persistence' && documented[i - 1] === '-p') return [packed.main, '-p', packed['linux-x64-gnu']]
    return [arg === '/path/to/swarm.db' ? db : arg]
  })
  const transport = new StdioClientTransport({
    command: 'npx',
    args,
    cwd: cache,
    env: { PATH: noRust, HOME: process.env.HOME, npm_config_cache: cache },
    stderr: 'pipe',
  })
  const client = new Client({ name: 'install-test', version: '1.0.0' })
  await client.connect(transport)
  try {
    const { tools } = await client.listTools()
    assert.equal(tools.length, 20)
  } finally {
    await client.close()
  }
})

test('without the platform package and without cargo: the install says what to do, and so does require', () => {
  const { dir, npm, output } = project([packed.main], { omitOptional: true })
  assert.equal(npm.status, 0, output)
  assert.match(output, /no native binary could be loaded for linux-x64-gnu/)
  const loaded = spawnSync(process.execPath, ['-e', `
    try { require('swarm-persistence'); console.log('loaded') }
    catch (e) { console.log(JSON.stringify({ code: e.code, platform: e.platform, message: e.message })) }`], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, PATH: noRust },
  })
  const error = JSON.parse(loaded.stdout)
  assert.equal(error.code, 'NATIVE_BINDING_MISSING')
  assert.equal(error.platform, 'linux-x64-gnu')
  assert.match(error.message, /`npm install --include=optional`/)
  assert.match(error.message, new RegExp(`npm install --save-optional swarm-persistence-linux-x64-gnu@${version.replace(/\./g, '\\.')}`))
  // What the install printed is the loader's message, not node's dump of the uncaught error.
  assert.doesNotMatch(output, /^\s+at /m, 'no stack trace in the install output')
  assert.match(error.message, /install Rust >= 1\.89 .*npm rebuild swarm-persistence/)
})

test('without the platform package but with cargo: the install builds the addon from the packed sources', () => {
  // A target directory of the checkout's, so a rerun reuses the build. The project is a Cargo
  // workspace too (a Tauri app, a monorepo): the package's sources in its node_modules are not a
  // member of it.
  const { dir, npm, output } = project([packed.main], {
    path: process.env.PATH,
    omitOptional: true,
    env: { CARGO_TARGET_DIR: join(root, 'target', 'from-source') },
    files: {
      'Cargo.toml': '[workspace]\nmembers = ["crates/app"]\nresolver = "2"\n',
      'crates/app/Cargo.toml': '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n',
      'crates/app/src/lib.rs': '',
    },
  })
  assert.equal(npm.status, 0, output)
  assert.match(output, /building the native addon for linux-x64-gnu from source/)
  assert.ok(existsSync(join(dir, 'node_modules', 'swarm-persistence', BINARY)), 'built beside index.js')
  assert.deepEqual(JSON.parse(runIn(dir, 'rt.mjs', ROUND_TRIP_ESM)), [{ v: 'esm round trip' }])
})
