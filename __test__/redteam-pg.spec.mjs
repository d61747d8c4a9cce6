// Defects of the PostgreSQL backend found by attacking it from outside, each kept as a test
// marked `todo` (it fails until the defect is fixed; the suite stays green). They run against
// the server POOL_TEST_PG_URL names, a fresh database each, and are skipped when it is unset.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { addon, dbPath } from './helpers.mjs'
import { backend } from './backends.mjs'

const { SwarmPersistencePooled } = addon
const pg = backend('postgres')
const cli = new URL('../bin/swarm-persistence.js', import.meta.url).pathname
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A call's outcome as data: { ok } or { code, message }. */
const outcome = (promise) =>
  promise.then(
    (ok) => ({ ok }),
    (e) => ({ code: e.code, message: String(e.message) }),
  )

/** The outcome of `promise`, or 'still pending' when it has not settled within `ms`. */
async function within(ms, promise) {
  let timer
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve('still pending'), ms) })
  try {
    return await Promise.race([outcome(promise), late])
  } finally {
    clearTimeout(timer)
  }
}

/** psql on `url` holding `lock` in a transaction for `seconds`; resolves once it holds it. */
async function holdLock(url, lock, seconds) {
  const holder = spawn('psql', [url, '-Atq', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'ignore'] })
  holder.stdin.end(`BEGIN;\n${lock};\nSELECT 'held';\nSELECT pg_sleep(${seconds});\nCOMMIT;\n`)
  let out = ''
  for await (const chunk of holder.stdout) {
    out += chunk
    if (out.includes('held')) break
  }
  return { exited: once(holder, 'exit') }
}

/** A swarm s1 with agent a1, on `p`. */
async function seed(p) {
  await p.createSwarm({ id: 's1', name: 'swarm', topology: 'mesh', maxAgents: 5 })
  await p.createAgent({ id: 'a1', swarmId: 's1', name: 'agent', type: 'worker' })
}

/**
 * A TCP relay to `port` on loopback. `partition()` stops carrying bytes either way while keeping
 * both sockets open (a network that drops packets); `close()` ends every relayed connection.
 */
async function relay(port) {
  const pairs = new Set()
  let carrying = true
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1')
    const pair = [client, upstream]
    pairs.add(pair)
    client.on('data', (d) => { if (carrying) upstream.write(d) })
    upstream.on('data', (d) => { if (carrying) client.write(d) })
    const end = () => { pairs.delete(pair); client.destroy(); upstream.destroy() }
    for (const s of pair) { s.on('error', end); s.on('close', end) }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: server.address().port,
    partition() { carrying = false },
    async close() {
      for (const pair of pairs) for (const s of pair) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/**
 * A server that speaks just enough of PostgreSQL's protocol to refuse every connection with a
 * FATAL error of SQLSTATE `code`, as a real server does while it starts up or shuts down, or when
 * max_connections is reached.
 */
async function refusingServer(code, message) {
  const server = net.createServer((socket) => {
    let buffered = Buffer.alloc(0)
    socket.on('error', () => {})
    socket.on('data', (data) => {
      buffered = Buffer.concat([buffered, data])
      while (buffered.length >= 8 && buffered.length >= buffered.readInt32BE(0)) {
        const protocol = buffered.readInt32BE(4)
        buffered = buffered.subarray(buffered.readInt32BE(0))
        // SSLRequest or GSSENCRequest: no.
        if (protocol === 80877103 || protocol === 80877104) { socket.write('N'); continue }
        const field = (type, text) => Buffer.concat([Buffer.from(type + text), Buffer.from([0])])
        const body = Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', code), field('M', message), Buffer.from([0])])
        const head = Buffer.alloc(5)
        head.write('E')
        head.writeInt32BE(body.length + 4, 1)
        socket.end(Buffer.concat([head, body]))
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) }
}

test('[postgres] a read blocked by a lock rejects QUERY_TIMEOUT with pgPreparedStatements false, as with true', {
  skip: pg.skip,
}, async () => {
  for (const prepared of [true, false]) {
    const url = pg.location()
    const p = new SwarmPersistencePooled(url, { pgPreparedStatements: prepared, queryTimeout: 300, pgPoolSize: 1 })
    await p.initialize()
    await seed(p)
    const lock = await holdLock(url, 'LOCK TABLE agents IN ACCESS EXCLUSIVE MODE', 4)
    const started = Date.now()
    const read = await within(2500, p.getAgent('a1'))
    const waited = Date.now() - started
    await lock.exited
    await p.close()
    assert.equal(read.code, 'QUERY_TIMEOUT', `pgPreparedStatements ${prepared}: ${JSON.stringify(read)} after ${waited} ms`)
    assert.ok(waited < 2000, `pgPreparedStatements ${prepared}: rejected after ${waited} ms, queryTimeout is 300`)
  }
})

test('[postgres] calls and close() settle when the network to the server stops carrying packets', {
  skip: pg.skip,
}, async () => {
  const url = new URL(pg.location())
  const net_ = await relay(Number(url.port))
  url.port = String(net_.port)
  const p = new SwarmPersistencePooled(url.href, { queryTimeout: 500, acquireTimeout: 1000, pgPoolSize: 1, maxWorkers: 1 })
  try {
    await p.initialize()
    await seed(p)
    await p.getActiveSwarms()
    net_.partition()
    const [read, write] = await Promise.all([
      within(8000, p.getActiveSwarms()),
      within(8000, p.storeMemory('a1', 'k', { v: 1 })),
    ])
    const closed = await within(4000, p.close())
    assert.notEqual(read, 'still pending', 'a read settles (QUERY_TIMEOUT or CONNECTION_LOST) within 8 s')
    assert.notEqual(write, 'still pending', 'a write settles within 8 s')
    assert.notEqual(closed, 'still pending', 'close() settles')
    assert.match(read.code, /^(QUERY_TIMEOUT|CONNECTION_LOST)$/)
  } finally {
    // Ends the relayed connections, so the lanes blocked on them can finish.
    await net_.close()
    await outcome(p.close())
  }
})

test('[postgres] two objects on one database keep call order however its URL is spelled', {
  skip: pg.skip,
}, async () => {
  const url = pg.location()
  const a = new SwarmPersistencePooled(url)
  const b = new SwarmPersistencePooled(url.replace(/^postgres:/, 'postgresql:'))
  await a.initialize()
  await b.initialize()
  await seed(a)
  const disorder = []
  for (let round = 0; round < 5; round++) {
    const calls = []
    for (let i = 0; i < 200; i++) calls.push((i % 2 ? a : b).storeMemory('a1', 'k', { round, i }))
    await Promise.all(calls)
    const { value } = await a.getMemory('a1', 'k')
    if (value.i !== 199) disorder.push(`round ${round}: the last call wrote i=199, the row holds i=${value.i}`)
  }
  const db = new URL(url).pathname.slice(1)
  const writers = await pg.sql(a, `SELECT pid FROM pg_stat_activity WHERE datname = '${db}' AND application_name = 'swarm-persistence writer'`)
  await a.close()
  await b.close()
  assert.deepEqual(disorder, [], 'the later call wins, as on one object')
  assert.equal(writers.length, 1, 'one writer connection for the database')
})

// Needs no real server: the refusing one is made here.
test('[postgres] a server that cannot take a connection right now is CONNECTION_LOST, not INVALID_CONFIG', {
}, async () => {
  const refusals = [
    ['57P03', 'the database system is starting up'],
    ['57P03', 'the database system is shutting down'],
    ['53300', 'sorry, too many clients already'],
  ]
  const seen = []
  for (const [state, message] of refusals) {
    const server = await refusingServer(state, message)
    const p = new SwarmPersistencePooled(`postgres://swarm@127.0.0.1:${server.port}/swarm`, { pgConnectTimeout: 1000 })
    const init = await within(5000, p.initialize())
    const read = await within(5000, p.getActiveSwarms())
    await outcome(p.close())
    await server.close()
    seen.push({ state, message, initialize: init.code, read: read.code })
  }
  for (const s of seen) {
    assert.equal(s.initialize, 'CONNECTION_LOST', `initialize() while the server says "${s.message}" (${s.state})`)
    assert.equal(s.read, 'CONNECTION_LOST', `a read while the server says "${s.message}" (${s.state})`)
  }
})

test('[postgres] reads keep working after another host adds a column to a table', {
  skip: pg.skip,
}, async () => {
  const p = new SwarmPersistencePooled(pg.location(), { pgPoolSize: 1 })
  await p.initialize()
  await seed(p)
  assert.equal((await p.getAgent('a1')).id, 'a1')
  // What a newer version's migration, run from another host during a rolling upgrade, does.
  await pg.sql(p, 'ALTER TABLE agents ADD COLUMN added_later TEXT')
  const after = []
  for (let i = 0; i < 3; i++) after.push(await outcome(p.getAgent('a1')))
  await p.close()
  for (const r of after) assert.equal(r.ok?.id, 'a1', JSON.stringify(r))
})

test('[postgres] ids and keys too long for PostgreSQL\'s indexes are INVALID_ARGUMENT naming the limit, nothing written', {
  skip: pg.skip,
}, async () => {
  // SQLite stores 4,000-character keys; PostgreSQL's btree indexes take about 2,700 bytes. The
  // README documents the limit; the call fails alone with a code that says it is the input.
  const long = randomBytes(3000).toString('base64').slice(0, 4000)
  const results = {}
  for (const [name, location] of [['sqlite', dbPath('rtpg-long')], ['postgres', pg.location()]]) {
    const p = new SwarmPersistencePooled(location)
    await p.initialize()
    await seed(p)
    const codes = {
      memoryKey: (await outcome(p.storeMemory('a1', long, { v: 1 }))).code ?? 'ok',
      agentId: (await outcome(p.createAgent({ id: long, swarmId: 's1', name: 'n', type: 't' }))).code ?? 'ok',
      metricName: (await outcome(p.recordMetric('agent', 'a1', long, 1))).code ?? 'ok',
    }
    results[name] = { codes, agents: (await p.getSwarmAgents('s1')).length, memory: (await p.getAllMemory('a1')).length }
    await p.close()
  }
  assert.deepEqual(results.sqlite, { codes: { memoryKey: 'ok', agentId: 'ok', metricName: 'ok' }, agents: 2, memory: 1 })
  assert.deepEqual(results.postgres, {
    codes: { memoryKey: 'INVALID_ARGUMENT', agentId: 'INVALID_ARGUMENT', metricName: 'INVALID_ARGUMENT' },
    agents: 1,
    memory: 0,
  })
})

test('[postgres] executionTimeMs as numeric text is INVALID_ARGUMENT on PostgreSQL whatever pgPreparedStatements says', {
  skip: pg.skip,
}, async () => {
  // SQLite's column affinity turns "12.50" into 12.5; PostgreSQL's typed columns take numbers
  // only (README). Both PostgreSQL modes answer alike, and the task is left as it was.
  const results = {}
  const targets = [
    ['sqlite', dbPath('rtpg-affinity'), {}],
    ['postgres prepared', pg.location(), { pgPreparedStatements: true }],
    ['postgres unnamed', pg.location(), { pgPreparedStatements: false }],
  ]
  for (const [name, location, options] of targets) {
    const p = new SwarmPersistencePooled(location, options)
    await p.initialize()
    await seed(p)
    await p.createTask({ id: 't1', swarmId: 's1', description: 'd' })
    const update = await outcome(p.updateTask('t1', { executionTimeMs: (12.5).toFixed(2) }))
    const task = await p.getTask('t1')
    results[name] = { update: update.code ?? 'ok', stored: task.execution_time_ms }
    await p.close()
  }
  assert.deepEqual(results.sqlite, { update: 'ok', stored: 12.5 })
  assert.deepEqual(results['postgres prepared'], { update: 'INVALID_ARGUMENT', stored: null })
  assert.deepEqual(results['postgres unnamed'], results['postgres prepared'])
})

test('[postgres] after an interrupted migrate the target takes writes, and migrate --merge finishes it', {
  skip: pg.skip,
}, async () => {
  const source = dbPath('rtpg-migrate-source')
  const s = new SwarmPersistencePooled(source)
  await s.initialize()
  await seed(s)
  for (let i = 0; i < 30_000; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, j) => s.storeMemory('a1', `k${i + j}`, { i: i + j })))
  }
  await s.close()

  const url = pg.location()
  const copying = spawn(process.execPath, [cli, 'migrate', '--from', source, '--to', url, '--batch', '20'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let progress = ''
  copying.stderr.on('data', (d) => {
    progress += d
    // Mid-table: a third of agent_memory copied.
    if (/agent_memory: \d+\/\d+ rows \((3|4|5|6)0%\)/.test(progress)) copying.kill('SIGINT')
  })
  const [, signal] = await once(copying, 'exit')
  assert.equal(signal, 'SIGINT', 'the copy was interrupted mid-table')

  const p = new SwarmPersistencePooled(url)
  await p.initialize()
  const write = await outcome(p.storeMemory('a1', 'written-after-the-interruption', { v: 1 }))
  await p.close()

  const merging = spawn(process.execPath, [cli, 'migrate', '--from', source, '--to', url, '--merge', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  merging.stderr.on('data', (d) => { err += d })
  const [code] = await once(merging, 'exit')

  assert.ok(write.ok, `a write to the target after the interruption: ${JSON.stringify(write)}`)
  assert.equal(code, 0, `migrate --merge after the interruption: ${err.trim().split('\n').pop().slice(0, 300)}`)
})

test('[postgres] close() of one of two objects on a database waits for its writes even when the write queue is full', {
  skip: pg.skip,
}, async () => {
  const url = pg.location()
  const other = new SwarmPersistencePooled(url, { maxQueue: 5, queryTimeout: 20_000 })
  const p = new SwarmPersistencePooled(url)
  await other.initialize()
  await p.initialize()
  await seed(p)
  const lock = await holdLock(url, 'LOCK TABLE agent_memory IN ACCESS EXCLUSIVE MODE', 2)
  const order = []
  const writes = []
  // One reaction each, as close()'s: a reaction behind an extra hop would be recorded late.
  for (let i = 0; i < 8; i++) {
    writes.push(p.storeMemory('a1', `q${i}`, { i }).then(() => order.push(`write ${i}: ok`), (e) => order.push(`write ${i}: ${e.code}`)))
  }
  const closed = p.close().then(() => order.push('close() resolved'))
  await Promise.all([...writes, closed])
  await lock.exited
  await other.close()
  const at = order.indexOf('close() resolved')
  const settledAfter = order.slice(at + 1)
  assert.deepEqual(settledAfter, [], `writes called before close() settled after it resolved: ${order.join(', ')}`)
})

test('[postgres] a swarm_schema version below 0 is not taken for a current schema', {
  skip: pg.skip,
}, async () => {
  const p = new SwarmPersistencePooled(pg.location())
  await pg.sql(p, 'CREATE TABLE swarm_schema (version BIGINT NOT NULL)')
  await pg.sql(p, 'INSERT INTO swarm_schema (version) VALUES (-1)')
  const init = await outcome(p.initialize())
  const read = init.ok === undefined && !init.code ? await outcome(p.getActiveSwarms()) : null
  await outcome(p.close())
  // Either refused at initialize(), or the schema is made and the store works.
  if (init.code) assert.equal(init.code, 'INVALID_ARGUMENT', init.message)
  else assert.deepEqual(read, { ok: [] }, JSON.stringify(read))
})
