// The main job as a user runs it: `swarm-persistence run …` in a child process, its exit code,
// how fast it fails, and what it prints on stdout and stderr.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dbPath } from './helpers.mjs'

const cli = fileURLToPath(new URL('../bin/swarm-persistence.js', import.meta.url))

/** Runs the CLI with stderr a pipe (not a terminal); kills it after `timeoutMs`. */
function run(args, { env = {}, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut, stdout, stderr, ms: performance.now() - started })
    })
  })
}

/** A failure: exits by itself with `code`, fast, with one error line on stderr and nothing on stdout. */
function assertFailsFast(r, code) {
  assert.equal(r.timedOut, false, `still running after ${r.ms.toFixed(0)} ms; stderr: ${r.stderr}`)
  assert.equal(r.code, code, r.stderr)
  assert.ok(r.ms < 3000, `took ${r.ms.toFixed(0)} ms`)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.equal(r.stdout, '')
}

function fileAt(path, text) {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
  return path
}

test('a bad POOL_* value exits 2 at once with the variable and INVALID_CONFIG', async () => {
  const r = await run(['run', '--db', dbPath('badenv'), '--duration', '1'], { env: { POOL_MAX_READERS: 'abc' }, timeoutMs: 5000 })
  assertFailsFast(r, 2)
  assert.match(r.stderr, /INVALID_CONFIG/)
  assert.match(r.stderr, /POOL_MAX_READERS/)
})

test('a --db that is a text file exits 1 at once with SQLITE_NOTADB', async () => {
  const path = fileAt(dbPath('text'), 'not a database, just some text\n'.repeat(100))
  const r = await run(['run', '--db', path, '--duration', '1'], { timeoutMs: 5000 })
  assertFailsFast(r, 1)
  assert.match(r.stderr, /SQLITE_NOTADB/)
})

test('a --db that is a directory exits 2 at once and says so', async () => {
  const dir = dirname(fileAt(dbPath('dir'), ''))
  const r = await run(['run', '--db', dir, '--duration', '1'], { timeoutMs: 5000 })
  assertFailsFast(r, 2)
  assert.match(r.stderr, /INVALID_ARGUMENT: .* is a directory/)
})

test('a --db that cannot be created exits 1 at once with SQLITE_CANTOPEN', async () => {
  const r = await run(['run', '--db', '/proc/no-such-dir/x.db', '--duration', '1'], { timeoutMs: 5000 })
  assertFailsFast(r, 1)
  assert.match(r.stderr, /SQLITE_CANTOPEN/)
})

test('negative numbers reach our own validation, separate or after =', async () => {
  for (const args of [['--duration', '-1'], ['--duration=-1'], ['--duration', '-0.5']]) {
    const r = await run(['run', ...args], { timeoutMs: 5000 })
    assertFailsFast(r, 2)
    assert.match(r.stderr, /INVALID_ARGUMENT: --duration must be a positive number of seconds/, args.join(' '))
  }
  const r = await run(['run', '--agents', '-3'], { timeoutMs: 5000 })
  assertFailsFast(r, 2)
  assert.match(r.stderr, /--agents must be a whole number/)
})

test('an unknown option exits 2 with one line', async () => {
  assertFailsFast(await run(['run', '--bogus'], { timeoutMs: 5000 }), 2)
})

test('--json prints one JSON document whose rate counts only the timed phase', async () => {
  const r = await run(['run', '--db', dbPath('json'), '--agents', '5', '--duration', '1', '--json'])
  assert.equal(r.timedOut, false)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '', 'nothing but errors on stderr under --json')
  const s = JSON.parse(r.stdout)
  assert.equal(typeof s.pool_health, 'object')
  assert.equal(typeof s.pool_health.healthy, 'boolean')
  assert.match(s.health, /^ok · /)
  assert.match(s.run_id, /^run-\d{8}-\d{6}-[0-9a-f]{4}$/)
  // 5 swarm, 5 agents and 50 seed tasks: set up, but not in the timed phase's counts.
  assert.equal(s.setup.operations, 56)
  assert.equal(s.setup.errors, 0)
  const { operations, seconds, ops_per_sec: rate } = s.phase
  assert.ok(seconds >= 1 && seconds < 3, `phase took ${seconds} s`)
  assert.equal(s.operations.reduce((n, o) => n + o.count, 0), operations)
  assert.ok(Math.abs(operations / seconds - rate) <= rate * 0.01, `${operations} ops / ${seconds} s vs ${rate} ops/s`)
  const perKind = s.operations.reduce((n, o) => n + o.ops_per_sec, 0)
  assert.ok(Math.abs(perKind - rate) <= rate * 0.01, `per-kind rates sum to ${perKind}, total ${rate}`)
})

test('without --json and stderr not a terminal: one 100% line, a readable run id, one health line', async () => {
  // Two seconds: the 2 s progress tick lands on the deadline, where 100% used to print twice.
  const r = await run(['run', '--db', dbPath('text-summary'), '--agents', '5', '--duration', '2'])
  assert.equal(r.code, 0, r.stderr)
  assert.ok(!r.stderr.includes('\r'), 'no carriage-return redraws off a terminal')
  const finals = r.stderr.split('\n').filter((l) => l.includes('100%'))
  assert.equal(finals.length, 1, r.stderr)
  assert.match(r.stdout, /run id: +run-\d{8}-\d{6}-[0-9a-f]{4}\n/)
  const health = r.stdout.split('\n').filter((l) => /health/i.test(l))
  assert.equal(health.length, 1, r.stdout)
  assert.match(health[0], /^health: ok · writer ok · readers \d+\/\d+ · workers \d+\/\d+ · WAL [\d.]+ MB \/ [\d.]+ MB, \d+ checkpoints$/)
  // The progress line and the summary count the same timed-phase operations, setup excluded.
  const [, progressOps] = finals[0].match(/ (\d+) ops /)
  const [, summaryOps] = r.stdout.match(/\n(\d+) operations in /)
  assert.equal(progressOps, summaryOps)
})

test('--help lists both subcommands and exits 0', async () => {
  const r = await run(['--help'], { timeoutMs: 5000 })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /\brun\b.*--duration/s)
  assert.match(r.stdout, /swarm-persistence mcp --db PATH/)
})
