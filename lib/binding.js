// Loads the native addon through the generated index.js, which tries a binary built from source
// beside it, then the prebuilt one of this platform's optional package. When neither loads, the
// error says which platform this is and the two ways out, rather than napi's generic message.
'use strict'
const { version } = require('../package.json')
const { binaryFile, platformPackage, platformTag, prebuiltTags } = require('./platform')

/** Why loading failed, in one line per attempt (napi's error keeps them in its `cause` chain). */
function reasons(err) {
  const lines = []
  for (let e = err, depth = 0; e && depth < 8; e = e.cause, depth += 1) {
    if (e.message) lines.push(String(e.message).split('\n')[0])
  }
  return lines
}

function missingBinding(err) {
  const tag = platformTag()
  const prebuilt = prebuiltTags()
  const first = prebuilt.includes(tag)
    ? `install the prebuilt binary: \`npm install ${platformPackage(tag)}@${version}\` (it is an optional dependency: do not install with --omit=optional or --no-optional)`
    : `use a platform with a prebuilt binary (${prebuilt.join(', ') || 'none published'}); there is none for ${tag}`
  const message = [
    `swarm-persistence: no native binary could be loaded for ${tag} (Node ${process.version}). Two ways out:`,
    `  1. ${first};`,
    `  2. build it from source: install Rust >= 1.89 (https://rustup.rs) so that \`cargo\` is on PATH, then run \`npm rebuild swarm-persistence\` (it writes ${binaryFile(tag)}).`,
    ...reasons(err).map((line) => `  loading failed with: ${line}`),
  ].join('\n')
  const error = new Error(message, { cause: err })
  error.code = 'NATIVE_BINDING_MISSING'
  error.platform = tag
  return error
}

let native
try {
  native = require('../index.js')
} catch (err) {
  throw missingBinding(err)
}

module.exports = native
