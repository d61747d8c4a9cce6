// Builds the addon through the napi CLI (a devDependency): it compiles the crate, writes
// swarm-persistence.<platform>-<arch>[-<abi>].node and regenerates index.js and index.d.ts.
// Without the CLI (no `npm ci` yet) it falls back to cargo alone and says so.
'use strict'
const { execFileSync } = require('node:child_process')
const { copyFileSync, existsSync, readFileSync } = require('node:fs')
const { join, dirname } = require('node:path')

const root = join(__dirname, '..')
const debug = process.argv.includes('--debug')

/** The CLI's entry script, or null when node_modules does not have it. */
function napiCli() {
  let manifest
  // Not installed is an expected state (a clone before `npm ci`), not an error.
  try { manifest = require.resolve('@napi-rs/cli/package.json', { paths: [root] }) } catch { return null }
  return join(dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.napi)
}

const cli = napiCli()
if (cli) {
  // Run with this node rather than node_modules/.bin, which is a .cmd shim on Windows.
  execFileSync(process.execPath, [cli, 'build', '--platform', ...(debug ? [] : ['--release'])], { cwd: root, stdio: 'inherit' })
} else {
  console.error('build: @napi-rs/cli is not installed (run `npm ci`); building with cargo alone,')
  console.error('       so index.js and index.d.ts are NOT regenerated from the Rust code')
  cargoOnly()
}

/** The .node file from plain cargo, copied where index.js loads it. */
function cargoOnly() {
  execFileSync('cargo', ['build', ...(debug ? [] : ['--release'])], { cwd: root, stdio: 'inherit' })
  const libc = () => (process.report?.getReport?.()?.header?.glibcVersionRuntime ? 'gnu' : 'musl')
  const platform = { linux: `linux-${process.arch}-${libc()}`, darwin: `darwin-${process.arch}`, win32: `win32-${process.arch}-msvc` }[process.platform]
  const lib = { linux: 'libswarm_persistence.so', darwin: 'libswarm_persistence.dylib', win32: 'swarm_persistence.dll' }[process.platform]
  if (!platform || !lib) throw new Error(`unsupported platform ${process.platform}`)
  const built = join(root, 'target', debug ? 'debug' : 'release', lib)
  if (!existsSync(built)) throw new Error(`cargo did not produce ${built}`)
  copyFileSync(built, join(root, `swarm-persistence.${platform}.node`))
  console.error(`built swarm-persistence.${platform}.node`)
}
