// Crash safety: a child process writes continuously and records what was acknowledged; the
// parent kills it with SIGKILL at random moments, reopens the database, and checks that every
// acknowledged write is there, no transaction is partly visible, and integrity_check says ok.
// CRASH_ROUNDS rounds (default 20) with synchronous=NORMAL, then as many with FULL.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addon, dbPath } from '../helpers.mjs'

const { SwarmPersistencePooled } = addon
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20)
const child = fileURLToPath(new URL('./crash-child.cjs', import.meta.url))

function runAndKill(path, ackFile, firstId, synchronous) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, path, ackFile, String(firstId)], {
      env: { ...process.env, POOL_SYNCHRONOUS: synchronous },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    proc.stderr.on('data', (d) => { stderr += d })
    proc.stdout.once('data', () => {
      // Let it write for a random while, then kill it without warning.
      setTimeout(() => proc.kill('SIGKILL'), 100 + Math.random() * 500)
    })
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`child exited ${code} before the kill: ${stderr}`))
    })
  })
}

function acknowledged(ackFile) {
  const acks = { w: [], t: [], m: [] }
  if (!existsSync(ackFile)) return acks
  for (const line of readFileSync(ackFile, 'utf8').split('\n')) {
    const m = /^([wtm]) (\d+)$/.exec(line)
    if (m) acks[m[1]].push(Number(m[2]))
  }
  return acks
}

async function verify(path, acks) {
  const p = new SwarmPersistencePooled(path, { maxReaders: 1, maxWorkers: 1 })
  await p.initialize()
  try {
    assert.deepEqual(await p.pool.read('PRAGMA integrity_check'), [{ integrity_check: 'ok' }])
    const w = new Set((await p.pool.read('SELECT id FROM w')).map((r) => r.id))
    const lostW = acks.w.filter((id) => !w.has(id))
    const groups = new Map((await p.pool.read('SELECT g, count(*) AS n FROM tx GROUP BY g')).map((r) => [r.g, r.n]))
    const partial = [...groups].filter(([, n]) => n !== 3)
    const lostT = acks.t.filter((g) => groups.get(g) !== 3)
    const keys = new Set((await p.getAllMemory('crash-agent')).map((m) => m.key))
    const lostM = acks.m.filter((id) => !keys.has(`k${id}`))
    assert.deepEqual({ lostW, lostT, lostM, partial }, { lostW: [], lostT: [], lostM: [], partial: [] })
    return { rows: w.size, groups: groups.size, memory: keys.size }
  } finally {
    await p.close()
  }
}

for (const synchronous of ['NORMAL', 'FULL']) {
  test(`${ROUNDS} SIGKILLs with synchronous=${synchronous} lose no acknowledged write`, { timeout: ROUNDS * 20_000 }, async () => {
    const path = dbPath(`crash-${synchronous}`)
    mkdirSync(dirname(path), { recursive: true })
    const ackFile = join(dirname(path), 'acks.txt')
    let last
    for (let round = 0; round < ROUNDS; round++) {
      await runAndKill(path, ackFile, round * 10_000_000, synchronous)
      last = await verify(path, acknowledged(ackFile))
    }
    const acks = acknowledged(ackFile)
    const total = acks.w.length + acks.t.length + acks.m.length
    assert.ok(total > ROUNDS, `only ${total} acknowledged writes`)
    console.log(JSON.stringify({ synchronous, rounds: ROUNDS, acknowledged: total, lost: 0, partialTransactions: 0, ...last }))
  })
}
