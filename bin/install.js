// npm's `install` step of swarm-persistence as a dependency. The prebuilt binary comes with the
// optional package for this platform; when it does not load (no package for the platform, or
// optional dependencies omitted) and `cargo` is on PATH, this builds the addon from the sources the
// package carries. With neither it prints the two ways out and lets the install finish: requiring
// the package then throws the same explanation with code NATIVE_BINDING_MISSING.
// SWARM_PERSISTENCE_BUILD_FROM_SOURCE=1 builds from source even when a prebuilt binary loads.
'use strict'
const { spawnSync } = require('node:child_process')
const { copyFileSync, realpathSync, rmSync } = require('node:fs')
const { join, resolve, sep } = require('node:path')
const { binaryFile, platformTag } = require('../lib/platform')

const root = join(__dirname, '..')

/**
 * Whether this is a checkout of the package (its own development), where `npm test` and
 * `npm start` build the addon, rather than an installed copy, which always sits in a node_modules
 * folder (npm, pnpm and yarn projects, global prefixes, npx's cache). npm's INIT_CWD alone does
 * not tell: it is the folder npm was started from, a subfolder of the checkout for `npm ci` run
 * there, or any folder for `npm ci --prefix <checkout>`; a build then would remove the checkout's
 * target directory when done.
 */
function inCheckout() {
  if (process.env.INIT_CWD && resolve(process.env.INIT_CWD) === resolve(root)) return true
  return !realpathSync(root).split(sep).includes('node_modules')
}

/**
 * Whether the addon loads, tried in a child so a half-built binary never stays mapped here; `why`
 * is the loader's message without node's stack dump, or what killed the child (a truncated
 * binary crashes dlopen with SIGBUS rather than failing it).
 */
function loads() {
  const binding = JSON.stringify(join(root, 'lib', 'binding.js'))
  const script = `try { require(${binding}) } catch (e) { process.stderr.write(String(e && e.message)); process.exit(1) }`
  const probe = spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  if (probe.signal) {
    const why =
      `swarm-persistence: loading the native addon for ${platformTag()} killed node with ${probe.signal}: a binary is truncated or corrupt; ` +
      'reinstall the package (remove it and its platform package from node_modules, then run `npm install`)'
    return { ok: false, why }
  }
  return { ok: probe.status === 0, why: probe.stderr }
}

function hasCargo() {
  const probe = spawnSync('cargo', ['--version'], { stdio: 'ignore' })
  return !probe.error && probe.status === 0
}

/** The library cargo writes for this crate on this OS. */
function cargoLibrary(dir) {
  const file = { darwin: 'libswarm_persistence.dylib', win32: 'swarm_persistence.dll' }[process.platform] ?? 'libswarm_persistence.so'
  return join(dir, 'release', file)
}

function buildFromSource() {
  // A target directory of the caller's is kept (and reused); our own is removed after the build.
  const own = !process.env.CARGO_TARGET_DIR
  const targetDir = own ? join(root, 'target') : resolve(process.env.CARGO_TARGET_DIR)
  console.error(`swarm-persistence: building the native addon for ${platformTag()} from source with cargo (a few minutes)…`)
  const cargo = spawnSync('cargo', ['build', '--release', '--locked', '--lib'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  })
  if (cargo.status !== 0) {
    console.error('swarm-persistence: the build from source failed (see cargo\'s output above); Rust >= 1.89 is required')
    process.exit(1)
  }
  copyFileSync(cargoLibrary(targetDir), join(root, binaryFile()))
  if (own) rmSync(targetDir, { recursive: true, force: true })
}

function main() {
  // `npm install` inside a checkout of this package itself: `npm test` and `npm start` build it.
  if (inCheckout()) return
  const forced = process.env.SWARM_PERSISTENCE_BUILD_FROM_SOURCE === '1'
  if (forced && !hasCargo()) {
    console.error(
      'swarm-persistence: SWARM_PERSISTENCE_BUILD_FROM_SOURCE=1 asks for a build from source, but `cargo` is not on PATH: ' +
        'install Rust >= 1.89 (https://rustup.rs), or unset it to use the prebuilt binary',
    )
    process.exit(1)
  }
  const before = forced ? { ok: false, why: '' } : loads()
  if (before.ok) return
  if (!hasCargo()) {
    // The loader's own explanation: the platform, and the two ways out.
    console.error(before.why.trim() || `swarm-persistence: no prebuilt binary for ${platformTag()} and no cargo on PATH`)
    console.error('swarm-persistence: installed without a native addon that loads; see above')
    return
  }
  buildFromSource()
  const after = loads()
  if (!after.ok) {
    console.error(after.why.trim())
    process.exit(1)
  }
  console.error(`swarm-persistence: built ${binaryFile()}`)
}

main()
