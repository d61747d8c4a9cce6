// CI drift check, run after a build: the committed index.js and index.d.ts must be what the
// napi CLI generates from the Rust code now.
'use strict'
const { spawnSync } = require('node:child_process')
const { join } = require('node:path')

const root = join(__dirname, '..')
const FILES = ['index.js', 'index.d.ts']

// Without the CLI the build left both files alone, so a clean diff would prove nothing.
try { require.resolve('@napi-rs/cli/package.json', { paths: [root] }) } catch {
  console.error('check-generated: @napi-rs/cli is not installed, so the build did not regenerate index.js and index.d.ts; run `npm ci` and `npm run build` first')
  process.exit(1)
}
const diff = spawnSync('git', ['diff', '--exit-code', '--', ...FILES], { cwd: root, stdio: 'inherit' })
if (diff.error) throw diff.error
if (diff.status !== 0) {
  console.error(`check-generated: ${FILES.join(' and ')} differ from what the build generates (diff above);`)
  console.error('run `npm run build` and commit index.js and index.d.ts')
  process.exit(1)
}
console.error(`check-generated: ${FILES.join(' and ')} match the build`)
