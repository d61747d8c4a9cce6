// JavaScript-thread time per call: rounds of 10,000 concurrent getAgent (read) or createAgent
// (write) calls through SwarmPersistencePooled, reporting the median round's throughput and the
// main thread's CPU time per call over all rounds, read from /proc (schedstat: nanoseconds).
// What bench/FINDINGS.md measures each lever with; not part of `npm run bench`.
//
//   node bench/per-call.js read 30      node bench/per-call.js write 30
'use strict'
const { mkdtempSync, readFileSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')
const { SwarmPersistencePooled } = require('..')

const kind = process.argv[2] ?? 'read'
const rounds = Number(process.argv[3] ?? 20)
const N = 10_000

/** CPU time of this process's main (JavaScript) thread so far, in ms. */
const jsThreadMs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6

async function main() {
  if (!['read', 'write'].includes(kind)) throw new Error('usage: node bench/per-call.js read|write [rounds]')
  const dir = mkdtempSync(join(tmpdir(), 'sp-per-call-'))
  const p = new SwarmPersistencePooled(join(dir, 'db.sqlite'))
  try {
    await p.initialize()
    await p.createSwarm({ id: 'b', name: 'b', topology: 'mesh', maxAgents: 1e9 })
    const create = (id) => p.createAgent({ id, swarmId: 'b', name: `agent ${id}`, type: 'coder', capabilities: ['rust', 'js'], neuralConfig: { layers: [8, 4] } })
    await Promise.all(Array.from({ length: N }, (_, i) => create(`a${i}`)))
    const rates = []
    let serial = 0
    const cpuStart = jsThreadMs()
    for (let r = 0; r < rounds; r++) {
      const t = performance.now()
      if (kind === 'read') await Promise.all(Array.from({ length: N }, (_, i) => p.getAgent(`a${(i * 7919) % N}`)))
      else await Promise.all(Array.from({ length: N }, () => create(`w${serial++}`)))
      rates.push((N * 1000) / (performance.now() - t))
    }
    const usPerCall = ((jsThreadMs() - cpuStart) * 1000) / (N * rounds)
    rates.sort((a, b) => a - b)
    console.log(`${kind}: median ${Math.round(rates[rates.length >> 1]).toLocaleString('en')} ops/s, JavaScript thread ${usPerCall.toFixed(2)} µs per call (${rounds} rounds of ${N.toLocaleString('en')})`)
  } finally {
    await p.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
