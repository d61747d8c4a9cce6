// Builds the addon with cargo and puts the library where index.js loads it
// (swarm-persistence.<platform>-<arch>[-<abi>].node). Needs only Rust; no npm packages.
'use strict'
const { execFileSync } = require('node:child_process')
const { copyFileSync, existsSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const debug = process.argv.includes('--debug')
const args = ['build', ...(debug ? [] : ['--release'])]
execFileSync('cargo', args, { cwd: root, stdio: 'inherit' })

const libc = () => {
  const report = process.report?.getReport?.()
  return report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'
}
const platform = { linux: `linux-${process.arch}-${libc()}`, darwin: `darwin-${process.arch}`, win32: `win32-${process.arch}-msvc` }[process.platform]
const lib = { linux: 'libswarm_persistence.so', darwin: 'libswarm_persistence.dylib', win32: 'swarm_persistence.dll' }[process.platform]
if (!platform || !lib) throw new Error(`unsupported platform ${process.platform}`)
const built = join(root, 'target', debug ? 'debug' : 'release', lib)
if (!existsSync(built)) throw new Error(`cargo did not produce ${built}`)
copyFileSync(built, join(root, `swarm-persistence.${platform}.node`))
console.error(`built swarm-persistence.${platform}.node`)
