// Installs the benchmark's peers (better-sqlite3, node-sqlite3, node-postgres) into
// bench/node_modules, compiling the SQLite ones from source against the local Node headers, since
// no prebuilt binaries can be downloaded. `node bench/setup.js pg` checks only the peers named.
'use strict'
const { execSync } = require('node:child_process')
const { existsSync } = require('node:fs')
const { join } = require('node:path')

const here = __dirname
const wanted = process.argv.length > 2 ? process.argv.slice(2) : ['better-sqlite3', 'sqlite3', 'pg']
const ready = wanted.every((m) => {
  try {
    require(require.resolve(m, { paths: [here] }))
    return true
  } catch {
    return false
  }
})
if (!ready) {
  console.error('installing benchmark peers, building the SQLite ones from source (first run only, ~2-3 minutes)…')
  const nodedir = existsSync('/usr/include/node/node.h') ? '/usr' : undefined
  const cmd = existsSync(join(here, 'package-lock.json')) ? 'npm ci' : 'npm install'
  execSync(`${cmd} --build-from-source --no-audit --no-fund`, {
    cwd: here,
    stdio: 'inherit',
    env: { ...process.env, ...(nodedir ? { npm_config_nodedir: nodedir } : {}), npm_config_build_from_source: 'true' },
  })
}
