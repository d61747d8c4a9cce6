// The README's Kysely and Drizzle examples run as pasted, and print what their comments say.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')

/** The ```js blocks of the README section under `heading`. */
function examples(heading) {
  const start = readme.indexOf(`\n## ${heading}\n`)
  assert.ok(start >= 0, `README has a "${heading}" section`)
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end < 0 ? undefined : end)
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1])
}

const blocks = examples('Kysely and Drizzle')

test('the README has one Kysely and one Drizzle example', () => {
  assert.equal(blocks.length, 2)
  assert.match(blocks[0], /from 'swarm-persistence\/kysely'/)
  assert.match(blocks[1], /from 'swarm-persistence\/drizzle'/)
})

for (const code of blocks) {
  const name = /from 'swarm-persistence\/(\w+)'/.exec(code)?.[1]
  test(`the README's ${name} example runs and prints what it says`, () => {
    // Run from the package folder, where `swarm-persistence/…` resolves to this package.
    const run = spawnSync(process.execPath, ['--input-type=module'], { cwd: root, input: code, encoding: 'utf8', timeout: 60_000 })
    assert.equal(run.status, 0, run.stderr)
    const promised = [...code.matchAll(/^console\.log\(.*\) \/\/ (.*)$/gm)].map((match) => match[1])
    assert.ok(promised.length > 0, 'the example shows its output')
    assert.deepEqual(run.stdout.trim().split('\n'), promised)
  })
}
