// bin/install.js on its own, in copies of the package laid out the way npm leaves them, with a
// stand-in `cargo` that logs its calls: whether it builds, and what it says. Fast: no real build.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const BINARY = 'swarm-persistence.linux-x64-gnu.node'
const PACKAGE_FILES = ['package.json', 'index.js', 'bin/install.js', 'lib', 'mcp', 'events']

const dirs = []
test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A folder with a `cargo` that logs its arguments to `<folder>/calls` and builds nothing loadable. */
function fakeCargo() {
  const dir = mkdtempSync(join(tmpdir(), 'sp-fake-cargo-'))
  dirs.push(dir)
  const script = `#!/bin/sh
echo "$*" >> "${join(dir, 'calls')}"
[ "$1" = build ] && mkdir -p "$CARGO_TARGET_DIR/release" && echo junk > "$CARGO_TARGET_DIR/release/libswarm_persistence.so"
exit 0
`
  writeFileSync(join(dir, 'cargo'), script)
  chmodSync(join(dir, 'cargo'), 0o755)
  return { bin: dir, calls: () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8') : '') }
}

/** PATH without any directory holding a `cargo`. */
const noRust = process.env.PATH.split(delimiter)
  .filter((dir) => dir && !existsSync(join(dir, 'cargo')))
  .join(delimiter)

/** The package's install-time files copied to `dir`. */
function copyPackage(dir) {
  for (const file of PACKAGE_FILES) cpSync(join(root, file), join(dir, file), { recursive: true })
  return dir
}

function install(dir, { path = noRust, env = {} } = {}) {
  const run = spawnSync(process.execPath, [join(dir, 'bin', 'install.js')], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, PATH: path, SWARM_PERSISTENCE_BUILD_FROM_SOURCE: '', CARGO_TARGET_DIR: '', ...env },
  })
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

test('in a checkout, npm started from a subfolder or with --prefix builds nothing and leaves target/ alone', () => {
  const checkout = copyPackage(mkdtempSync(join(tmpdir(), 'sp-checkout-')))
  dirs.push(checkout)
  mkdirSync(join(checkout, 'target', 'release'), { recursive: true })
  writeFileSync(join(checkout, 'target', 'release', 'KEEP'), 'the developer\'s build cache')
  mkdirSync(join(checkout, 'src'))
  const cargo = fakeCargo()
  for (const initCwd of [join(checkout, 'src'), tmpdir()]) {
    const { status, output } = install(checkout, { path: `${cargo.bin}${delimiter}${noRust}`, env: { INIT_CWD: initCwd } })
    assert.equal(status, 0, output)
    assert.equal(cargo.calls(), '', `INIT_CWD=${initCwd}: cargo was not run`)
    assert.ok(existsSync(join(checkout, 'target', 'release', 'KEEP')), `INIT_CWD=${initCwd}: target/ is kept`)
    assert.ok(!existsSync(join(checkout, BINARY)), 'nothing was built')
  }
})

test('installed in node_modules without a binary and with cargo: it builds, in a target/ it then removes', () => {
  const project = mkdtempSync(join(tmpdir(), 'sp-project-'))
  dirs.push(project)
  const pkg = copyPackage(join(project, 'node_modules', 'swarm-persistence'))
  const cargo = fakeCargo()
  const { status, output } = install(pkg, { path: `${cargo.bin}${delimiter}${noRust}`, env: { INIT_CWD: project } })
  assert.match(cargo.calls(), /^build --release --locked --lib$/m)
  assert.match(output, /building the native addon for linux-x64-gnu from source/)
  // The stand-in's library does not load, so the step fails after removing its target directory.
  assert.equal(status, 1, output)
  assert.ok(!existsSync(join(pkg, 'target')), 'its own target directory is removed')
})

/** A project with the package installed, and the platform package holding `binary` (bytes) if given. */
function installedProject(binary) {
  const project = mkdtempSync(join(tmpdir(), 'sp-project-'))
  dirs.push(project)
  const pkg = copyPackage(join(project, 'node_modules', 'swarm-persistence'))
  if (binary) {
    const platform = join(project, 'node_modules', 'swarm-persistence-linux-x64-gnu')
    mkdirSync(platform, { recursive: true })
    writeFileSync(join(platform, 'package.json'), JSON.stringify({ name: 'swarm-persistence-linux-x64-gnu', version: '0.1.0', main: BINARY }))
    writeFileSync(join(platform, BINARY), binary)
  }
  return { project, pkg }
}

test('without a binary and without cargo: the install prints the loader\'s message, not a stack dump', () => {
  const { project, pkg } = installedProject()
  const { status, output } = install(pkg, { env: { INIT_CWD: project } })
  assert.equal(status, 0, output)
  assert.match(output, /no native binary could be loaded for linux-x64-gnu/)
  assert.match(output, /npm install --include=optional/)
  assert.doesNotMatch(output, /^\s+at /m, 'no stack trace')
  assert.ok(output.split('\n').length < 20, output)
})

test('SWARM_PERSISTENCE_BUILD_FROM_SOURCE=1 without cargo fails the install and says why', () => {
  const { project, pkg } = installedProject()
  const { status, output } = install(pkg, { env: { INIT_CWD: project, SWARM_PERSISTENCE_BUILD_FROM_SOURCE: '1' } })
  assert.equal(status, 1, output)
  assert.match(output, /SWARM_PERSISTENCE_BUILD_FROM_SOURCE=1 asks for a build from source, but `cargo` is not on PATH/)
  assert.doesNotMatch(output, /no prebuilt binary/)
})

test('a platform package whose binary does not load: require says to reinstall it, not to install it', () => {
  const { project } = installedProject(Buffer.alloc(0))
  const loaded = spawnSync(process.execPath, ['-e', `
    try { require('swarm-persistence'); console.log('{}') }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`], { cwd: project, encoding: 'utf8' })
  const error = JSON.parse(loaded.stdout)
  assert.equal(error.code, 'NATIVE_BINDING_MISSING')
  assert.match(error.message, /reinstall the prebuilt binary, which is installed but does not load/)
  assert.match(error.message, /file too short/)
  assert.doesNotMatch(error.message, /npm install --save-optional/)
})

test('a truncated binary that crashes dlopen: the install names the crash', { skip: !existsSync(join(root, BINARY)) && `no ${BINARY} built` }, () => {
  const { project, pkg } = installedProject(readFileSync(join(root, BINARY)).subarray(0, 100_000))
  const { status, output } = install(pkg, { env: { INIT_CWD: project } })
  assert.equal(status, 0, output)
  assert.match(output, /killed node with SIGBUS: a binary is truncated or corrupt/)
})

test('without a binary, an ES module that catches the import of the package goes on', () => {
  const { project } = installedProject()
  for (const entry of ['swarm-persistence', 'swarm-persistence/mcp']) {
    const source = `try { await import('${entry}') } catch (e) { console.log(e.code) }\nconsole.log('went on')\n`
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd: project, encoding: 'utf8' })
    assert.equal(run.stdout, 'NATIVE_BINDING_MISSING\nwent on\n', run.stderr)
    assert.equal(run.status, 0, `${entry}: ${run.stderr}`)
  }
})
