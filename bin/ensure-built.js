// Builds the native addon when it is missing (a fresh clone), so `npm start` and `npm run bench`
// work as the first command on a new machine.
const { readdirSync } = require('node:fs')
const { execSync } = require('node:child_process')
const { join } = require('node:path')

const root = join(__dirname, '..')
const built = readdirSync(root).some((f) => f.startsWith('swarm-persistence.') && f.endsWith('.node'))
if (!built) {
  console.error('building the native addon (first run only, ~2 minutes)…')
  execSync('npm run build', { cwd: root, stdio: 'inherit' })
}
