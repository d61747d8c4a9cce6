// Installs node_modules from package-lock.json when it is missing or older than the lock, so
// `npm test` and `npm start` work as the first command on a fresh clone.
'use strict'
const { execSync } = require('node:child_process')
const { statSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const mtime = (file) => {
  // A missing file counts as infinitely old.
  try { return statSync(join(root, file)).mtimeMs } catch { return -Infinity }
}

// npm writes node_modules/.package-lock.json at the end of every install.
if (mtime('node_modules/.package-lock.json') < mtime('package-lock.json')) {
  console.error('installing dependencies from package-lock.json (npm ci)…')
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' })
}
