// Loads the native addon through the generated index.js, which tries a binary built from source
// beside it, then the prebuilt one of this platform's optional package. When neither loads, the
// error says which platform this is and the two ways out, rather than napi's generic message.
'use strict'
const { version } = require('../package.json')
const { dirname } = require('node:path')
const { binaryFile, platformPackage, platformTag, prebuiltTags } = require('./platform')

/** Why loading failed, in one line per attempt (napi's error keeps them in its `cause` chain). */
function reasons(err) {
  const lines = []
  for (let e = err, depth = 0; e && depth < 8; e = e.cause, depth += 1) {
    if (e.message) lines.push(String(e.message).split('\n')[0])
  }
  return lines
}

/** The folder of the installed platform package, or null when it is not installed. */
function installedPrebuilt(tag) {
  try {
    return dirname(require.resolve(`${platformPackage(tag)}/package.json`))
  } catch {
    return null
  }
}

function missingBinding(err) {
  const tag = platformTag()
  const prebuilt = prebuiltTags()
  const installed = prebuilt.includes(tag) ? installedPrebuilt(tag) : null
  // Installed as an optional dependency, never a plain one: a plain dependency on a package for one
  // platform fails `npm install` of the project on every other (EBADPLATFORM).
  const first = installed
    ? `reinstall the prebuilt binary, which is installed but does not load (see below): remove ${installed} and run \`npm install\` again`
    : prebuilt.includes(tag)
      ? `install the prebuilt binary, an optional dependency: \`npm install --include=optional\` (--omit=optional and --no-optional leave it out), or \`npm install --save-optional ${platformPackage(tag)}@${version}\``
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
