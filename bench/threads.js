// Where one workload's CPU goes, thread by thread: runs workload W1–W5 once (bench/workloads.js)
// on swarm-persistence (bench/peers.js) and prints its throughput and, for every thread of the
// process that ran more than 2 ms, its CPU time and how long it waited for a core, from
// /proc/self/task/<tid>/schedstat. What bench/FINDINGS.md's per-thread figures were measured
// with; not part of `npm run bench`.
//
//   node bench/threads.js W3        POOL_MAX_READERS=1 node bench/threads.js W2
'use strict'
const { mkdtempSync, readdirSync, readFileSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { peers } = require('./peers')
const { workloads } = require('./workloads')

/** Every thread of this process: name:tid → [CPU ns, waiting ns, time slices]. */
function threads() {
  const out = {}
  for (const tid of readdirSync('/proc/self/task')) {
    const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
    out[`${name}:${tid}`] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number)
  }
  return out
}

async function main() {
  const key = process.argv[2] ?? 'W3'
  const workload = workloads({ rows: () => [] }).find((w) => w.key === key && key !== 'W4')
  if (!workload) throw new Error('usage: node bench/threads.js W1|W2|W3|W5')
  const dir = mkdtempSync(join(tmpdir(), 'sp-threads-'))
  const lib = await peers[0](dir)
  try {
    const before = threads()
    const t = performance.now()
    const r = await workload.run(lib)
    const wall = performance.now() - t
    const after = threads()
    console.log(`${key}: ${Math.round(r.ops_per_sec).toLocaleString('en')} ops/s, p99 ${r.p99.toFixed(2)} ms, ${wall.toFixed(0)} ms wall (seeding included)`)
    for (const [id, [cpu, wait]] of Object.entries(after)) {
      if (!before[id]) continue
      const ms = (cpu - before[id][0]) / 1e6
      if (ms > 2) console.log(`  ${id.padEnd(22)} cpu ${ms.toFixed(0).padStart(5)} ms   waited for a core ${((wait - before[id][1]) / 1e6).toFixed(0).padStart(5)} ms`)
    }
  } finally {
    await lib.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
