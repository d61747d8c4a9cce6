// Optional peer dependencies (kysely, drizzle-orm), loaded by the entry points that need them,
// so a missing one is named with the command that installs it.
'use strict'

/** `require(name)`; throws PEER_DEPENDENCY_MISSING when the package itself is not installed. */
function requirePeer(name, entry) {
  try {
    return require(name)
  } catch (err) {
    // Only the package missing is an install problem; a module missing inside it is a broken install.
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).startsWith(`Cannot find module '${name}'`)) {
      const pkg = name.split('/')[0]
      throw Object.assign(new Error(`${entry} needs ${pkg}, which is not installed: run \`npm install ${pkg}\``), {
        code: 'PEER_DEPENDENCY_MISSING',
      })
    }
    throw err
  }
}

module.exports = { requirePeer }
