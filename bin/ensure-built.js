// Installs dependencies and builds the native addon when it is missing or older than the Rust
// sources, so `npm start` and `npm run bench` work as the first command and after a `git pull`.
'use strict'
const { readdirSync, statSync } = require('node:fs')
const { execSync } = require('node:child_process')
const { join } = require('node:path')

const root = join(__dirname, '..')
require('./ensure-deps') // node_modules first: the build runs the napi CLI from it

/** The newest modification time under `path` (a file or a directory tree). */
function newest(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))))
}

const addons = readdirSync(root).filter((f) => f.startsWith('swarm-persistence.') && f.endsWith('.node'))
const built = Math.max(-Infinity, ...addons.map((f) => statSync(join(root, f)).mtimeMs))
const sources = Math.max(...['src', 'Cargo.toml', 'Cargo.lock', 'build.rs'].map((p) => newest(join(root, p))))
if (built < sources) {
  console.error(addons.length ? 'Rust sources changed: rebuilding the native addon…' : 'building the native addon (first run only, ~2 minutes)…')
  execSync('npm run build', { cwd: root, stdio: 'inherit' })
}
