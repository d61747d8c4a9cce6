// Which platform this process runs on, in the names napi-rs gives its binaries and per-platform
// packages: `linux-x64-gnu` → `swarm-persistence.linux-x64-gnu.node` in the optional package
// `swarm-persistence-linux-x64-gnu`. The loader, the install step and the packer agree on it here.
'use strict'
const { name } = require('../package.json')

/** `gnu` or `musl` on Linux (glibc reports its version in the process report; musl does not). */
function linuxLibc() {
  const header = process.report?.getReport?.()?.header
  return header?.glibcVersionRuntime ? 'gnu' : 'musl'
}

/** The napi-rs platform tag of this process, e.g. `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
function platformTag() {
  if (process.platform === 'linux') return `linux-${process.arch}-${linuxLibc()}`
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`
  return `${process.platform}-${process.arch}`
}

/** Tags of the Rust targets the package publishes prebuilt binaries for (package.json `napi.targets`). */
function prebuiltTags() {
  const { napi } = require('../package.json')
  return (napi?.targets ?? []).map(tagOfTarget).filter(Boolean)
}

/** `x86_64-unknown-linux-gnu` → `linux-x64-gnu`; null for a triple this map does not know. */
function tagOfTarget(triple) {
  const arch = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[triple.split('-')[0]]
  if (!arch) return null
  if (triple.includes('-linux-')) return `linux-${arch}-${triple.endsWith('musl') ? 'musl' : 'gnu'}`
  if (triple.includes('-apple-darwin')) return `darwin-${arch}`
  if (triple.includes('-windows-msvc')) return `win32-${arch}-msvc`
  return null
}

module.exports = {
  platformTag,
  prebuiltTags,
  /** The file name of the addon for `tag`, as index.js looks for it beside itself. */
  binaryFile: (tag = platformTag()) => `${name}.${tag}.node`,
  /** The optional package carrying the prebuilt addon for `tag`. */
  platformPackage: (tag = platformTag()) => `${name}-${tag}`,
}
