// Writes until killed: single writes, transactions and storeMemory, appending every acknowledged
// one to a side file (synchronously, so a line on disk means the promise had resolved).
'use strict'
const { appendFileSync } = require('node:fs')
const { SwarmPersistencePooled } = require('../../lib/index.js')

const [dbPath, ackFile, firstId] = process.argv.slice(2)
let next = Number(firstId)

async function loop(p) {
  for (;;) {
    const id = next++
    const kind = id % 3
    if (kind === 0) {
      await p.pool.write('INSERT INTO w(id) VALUES (?)', [id])
      appendFileSync(ackFile, `w ${id}\n`)
    } else if (kind === 1) {
      await p.pool.transaction([1, 2, 3].map((i) => ({ sql: 'INSERT INTO tx(g, i) VALUES (?, ?)', params: [id, i] })))
      appendFileSync(ackFile, `t ${id}\n`)
    } else {
      await p.storeMemory('crash-agent', `k${id}`, { id })
      appendFileSync(ackFile, `m ${id}\n`)
    }
  }
}

async function main() {
  const p = new SwarmPersistencePooled(dbPath, { maxReaders: 1, maxWorkers: 1 })
  await p.initialize()
  await p.pool.write('CREATE TABLE IF NOT EXISTS w(id INTEGER PRIMARY KEY)')
  await p.pool.write('CREATE TABLE IF NOT EXISTS tx(g INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (g, i))')
  await p.createSwarm({ id: 'crash-swarm', name: 'crash', topology: 'mesh', maxAgents: 1 })
  if (!(await p.getAgent('crash-agent'))) await p.createAgent({ id: 'crash-agent', swarmId: 'crash-swarm', name: 'c', type: 'writer' })
  process.stdout.write('ready\n')
  await Promise.all(Array.from({ length: 32 }, () => loop(p)))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
