// Installs the benchmark's peers (better-sqlite3, node-sqlite3) into bench/node_modules, compiling
// them from source against the local Node headers, since no prebuilt binaries can be downloaded.
'use strict'
const { execSync } = require('node:child_process')
const { existsSync } = require('node:fs')
const { join } = require('node:path')

const here = __dirname
const ready = ['better-sqlite3', 'sqlite3'].every((m) => {
  try {
    require(require.resolve(m, { paths: [here] }))
    return true
  } catch {
    return false
  }
})
if (!ready) {
  console.error('building benchmark peers from source (first run only, ~2-3 minutes)…')
  const nodedir = existsSync('/usr/include/node/node.h') ? '/usr' : undefined
  const cmd = existsSync(join(here, 'package-lock.json')) ? 'npm ci' : 'npm install'
  execSync(`${cmd} --build-from-source --no-audit --no-fund`, {
    cwd: here,
    stdio: 'inherit',
    env: { ...process.env, ...(nodedir ? { npm_config_nodedir: nodedir } : {}), npm_config_build_from_source: 'true' },
  })
}
