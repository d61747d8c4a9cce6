// The PostgreSQL backend end to end: processes migrating one empty database at once, several
// hosts (processes, then processes in network namespaces of their own) writing one database
// together, connections killed and the server restarted under load, PgBouncer's transaction
// pooling, and the error codes the SQLite backend gives for the same calls.
//
// The server is POOL_TEST_PG_URL (npm test sets it through bin/with-postgres.js); each test makes
// a database of its own there, dropped at exit. Tests that stop or reconfigure a server start a
// private one with bin/pg-cluster.js. Without PostgreSQL they skip, and fail under CI=true.
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { appendFileSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { addon, dbPath, rejectsWith, require } from './helpers.mjs'

const { SwarmPersistencePooled } = addon
const { findBinDir, freePort, start, stop } = require('../bin/pg-cluster.js')
const url = process.env.POOL_TEST_PG_URL
const addonPath = require.resolve('../lib/index.js')
const asRoot = process.getuid?.() === 0
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Servers and databases

/** What `psql` prints for one statement, as unaligned tuples. */
function psql(target, sql) {
  return execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql, target], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim()
}

/** `server`'s URL with another database in it. */
function withDatabase(server, name) {
  const u = new URL(server)
  u.pathname = `/${name}`
  return u.toString()
}

/** Databases made on the shared server, dropped when this process exits. */
const madeDatabases = []
let serial = 0
process.on('exit', () => {
  for (const { server, name } of madeDatabases) {
    // FORCE ends the sessions a failed test may have left open (PostgreSQL 13 and later).
    try { psql(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) } catch {}
  }
})

/**
 * A new empty database on `server`, named after the test; its URL. Those on a private cluster
 * (`dropAtExit` false) go with the cluster.
 */
function freshDatabase(server, label, dropAtExit = true) {
  serial += 1
  const name = `sp_pgspec_${process.pid}_${serial}_${label}`
  psql(server, `CREATE DATABASE ${name}`)
  if (dropAtExit) madeDatabases.push({ server, name })
  return withDatabase(server, name)
}

/** Skips a test that needs PostgreSQL; under CI=true, which must run them all, fails it. */
function noPostgres(t, why) {
  const how = 'run under node bin/with-postgres.js, or set POOL_TEST_PG_URL to a server'
  if (process.env.CI === 'true') assert.fail(`CI=true and no PostgreSQL: ${why} (${how})`)
  t.skip(`no PostgreSQL: ${why} (${how})`)
}

/** Whether POOL_TEST_PG_URL names a server for this test. */
function haveServer(t) {
  if (url) return true
  noPostgres(t, 'POOL_TEST_PG_URL is not set')
  return false
}

/** A private cluster for a test that stops or reconfigures its server; stopped after the test. */
async function privateCluster(t) {
  if (!haveServer(t)) return null
  if (!findBinDir()) {
    noPostgres(t, 'this test starts a server of its own, and no initdb/pg_ctl was found')
    return null
  }
  const cluster = await start()
  t.after(() => stop(cluster))
  return cluster
}

/** Runs pg_ctl on a cluster from pg-cluster.js as its owner, as pg-cluster.js does. */
function pgCtl(cluster, ...args) {
  const file = join(cluster.bindir, 'pg_ctl')
  const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]
  try {
    execFileSync(command, argv, { cwd: cluster.dir, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    throw new Error(`pg_ctl ${args[0]} failed: ${String(e.stderr || e.message).trim()}`)
  }
}
// -l keeps the server's output out of pg_ctl's pipe, which would otherwise stay open (and
// execFileSync waiting) for as long as the server runs.
const serverUp = (c) => pgCtl(c, 'start', '-w', '-t', '60', '-D', c.data, '-l', c.log, '-o', `-p ${c.port}`)
const serverDown = (c) => pgCtl(c, 'stop', '-m', 'fast', '-w', '-t', '60', '-D', c.data)
const serverRestart = (c) => pgCtl(c, 'restart', '-m', 'fast', '-w', '-t', '60', '-D', c.data, '-l', c.log, '-o', `-p ${c.port}`)

/** Waits until `check()` holds: for a state to be reached, never to measure time. */
async function until(what, check, limitMs = 60_000) {
  const deadline = Date.now() + limitMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`gave up after ${limitMs} ms waiting for ${what}`)
    await sleep(25)
  }
}

// ---------------------------------------------------------------------------------------------
// Other processes: each one a host with a SwarmPersistencePooled of its own

// A host, run as `node -e CHILD <addon> <url> <options JSON>`: it answers commands, one JSON line
// each on stdin, with one line each on stdout ({ reply: { ok, result } } or { reply: { ok: false,
// error: { code, message } } }), and exits when stdin ends.
const CHILD = `
'use strict'
const { createInterface } = require('node:readline')
const [addonPath, dbUrl, options] = process.argv.slice(1)
const { SwarmPersistencePooled } = require(addonPath)
// Constructed before any command, so that an 'initialize' sent to several hosts at once finds
// each of them ready to connect.
const persistence = new SwarmPersistencePooled(dbUrl, JSON.parse(options))
const answer = (reply) => process.stdout.write(JSON.stringify({ reply }) + '\\n')
const failure = (e) => ({ code: e.code ?? null, message: e.message })

/** A deterministic shuffle, different per host: hosts that do not coordinate their order. */
function shuffled(items, seed) {
  let s = seed * 7919 + 17
  for (let i = items.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648
    const j = s % (i + 1)
    ;[items[i], items[j]] = [items[j], items[i]]
  }
  return items
}

const commands = {
  async initialize() {
    await persistence.initialize()
    return null
  },
  async createSwarm(swarm) {
    return persistence.createSwarm(swarm)
  },
  // Every call is started before any is awaited, so all are in flight together. The shared keys
  // are spread among the host's own (one after each distinct/shared of those), in ascending
  // order on every host unless 'shuffle' is set.
  async load({ me, swarmId, agents, distinct, shared, events, shuffle }) {
    const sharedOrder = Array.from({ length: shared }, (_, n) => n)
    if (shuffle) shuffled(sharedOrder, me)
    const every = shared ? Math.max(1, Math.floor(distinct / shared)) : Infinity
    const calls = []
    let d = 0
    for (const n of sharedOrder) {
      for (let k = 0; k < every && d < distinct; k++, d++) {
        calls.push(persistence.storeMemory(agents[d % agents.length], 'p' + me + '-' + d, { by: me, n: d }))
      }
      calls.push(persistence.storeMemory(agents[n % agents.length], 'shared-' + n, { by: me, n }))
    }
    for (; d < distinct; d++) calls.push(persistence.storeMemory(agents[d % agents.length], 'p' + me + '-' + d, { by: me, n: d }))
    for (let n = 0; n < events; n++) calls.push(persistence.logEvent(swarmId, 'load', { by: me, n }))
    const settled = await Promise.allSettled(calls)
    const rejected = settled.filter((s) => s.status === 'rejected').map((s) => failure(s.reason))
    return { calls: calls.length, resolved: calls.length - rejected.length, rejected }
  },
  // What this host reads back: every agent's memory, the swarm's events, its agents.
  async report({ swarmId, agents }) {
    const memory = {}
    for (const agent of agents) {
      memory[agent] = (await persistence.getAllMemory(agent)).map((m) => [m.id, m.agent_id, m.key, m.value])
    }
    const events = (await persistence.getSwarmEvents(swarmId, 1000000)).map((e) => [e.id, e.event_type, e.event_data])
    const swarmAgents = JSON.stringify(await persistence.getSwarmAgents(swarmId))
    return { memory, events, swarmAgents }
  },
  async close() {
    await persistence.close()
    return null
  },
}

createInterface({ input: process.stdin }).on('line', async (line) => {
  const { command, args } = JSON.parse(line)
  try {
    answer({ ok: true, result: await commands[command](args) })
  } catch (e) {
    answer({ ok: false, error: failure(e) })
  }
})
answer({ ok: true, result: 'started' })
`

/**
 * Starts a host on `dbUrl`; `prefix` runs it through another program (`ip netns exec <ns>`).
 * `ask(command, args)` resolves to its reply; `finish()` closes its persistence, ends it and
 * resolves to its exit code.
 */
async function host(t, dbUrl, options = {}, prefix = []) {
  const [command, ...args] = [...prefix, process.execPath, '-e', CHILD, addonPath, dbUrl, JSON.stringify(options)]
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const waiting = []
  let exited = null
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{"reply"')) return void process.stderr.write(`host: ${line}\n`)
    waiting.shift()?.resolve(JSON.parse(line).reply)
  })
  child.on('close', (code, signal) => {
    exited = code ?? signal
    for (const w of waiting.splice(0)) w.reject(new Error(`the host exited (${exited}) before it answered`))
  })
  t.after(() => { if (exited === null) child.kill('SIGKILL') })
  const next = () => new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  const started = next()
  assert.deepEqual(await started, { ok: true, result: 'started' })
  return {
    ask(command, args) {
      const reply = next()
      child.stdin.write(JSON.stringify({ command, args }) + '\n')
      return reply
    },
    async finish() {
      assert.deepEqual(await this.ask('close'), { ok: true, result: null })
      child.stdin.end()
      if (exited === null) await once(child, 'close')
      return exited
    },
  }
}

/** The replies of every host to one command, sent to all of them at once. */
const askAll = (hosts, command, args = () => ({})) => Promise.all(hosts.map((h, i) => h.ask(command, args(i))))

// ---------------------------------------------------------------------------------------------
// 1. Migration

// The tables the schema makes, swarm_schema (the version) included.
const TABLES = ['agent_memory', 'agents', 'events', 'metrics', 'neural_networks', 'swarm_schema', 'swarms', 'task_results', 'tasks']

test('four processes initializing one empty database at once: all resolve, one schema, version 2', { timeout: 120_000 }, async (t) => {
  if (!haveServer(t)) return
  const db = freshDatabase(url, 'init')
  const hosts = await Promise.all([0, 1, 2, 3].map(() => host(t, db, { pgPoolSize: 1 })))
  // All four get the command in the same tick: their migrations overlap on the server.
  const replies = await askAll(hosts, 'initialize')
  assert.deepEqual(replies, hosts.map(() => ({ ok: true, result: null })))
  assert.equal(psql(db, 'SELECT version FROM swarm_schema'), '2', 'one row, version 2')
  assert.equal(psql(db, 'SELECT count(*) FROM swarm_schema'), '1')
  // Each table once, and nothing else (a table made twice would fail, so "once" means no other
  // schema got a copy either).
  const tables = psql(db, "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
  assert.deepEqual(tables.split('\n'), TABLES.map((name) => `public.${name}`))
  // The eight indexes of version 1 and the three of version 2, each once.
  assert.equal(psql(db, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'idx\\_%'"), '11')
  // Each process can write after it: its swarm is there.
  const created = await askAll(hosts, 'createSwarm', (i) => ({ id: `s${i}`, name: `host ${i}`, topology: 'mesh', maxAgents: 2 }))
  for (const reply of created) assert.equal(reply.ok && reply.result.changes, 1)
  assert.equal(psql(db, 'SELECT string_agg(id, \',\' ORDER BY id) FROM swarms'), 's0,s1,s2,s3')
  for (const h of hosts) assert.equal(await h.finish(), 0)
})

// ---------------------------------------------------------------------------------------------
// 2 and 3. Several hosts on one database

const AGENTS = ['agent-0', 'agent-1', 'agent-2', 'agent-3']

/** Makes the swarm and the agents the hosts write memory for, from this process. */
async function seedSwarm(db) {
  const p = new SwarmPersistencePooled(db, { pgPoolSize: 1 })
  await p.createSwarm({ id: 'shared-swarm', name: 'Shared', topology: 'mesh', maxAgents: AGENTS.length })
  for (const id of AGENTS) await p.createAgent({ id, swarmId: 'shared-swarm', name: id, type: 'worker', capabilities: ['memory'] })
  await p.close()
}

/**
 * Three hosts (`hosts`, initialized) write concurrently, `distinct` memory keys of their own plus
 * the same `shared` keys and `events` events each, then each reads everything back. Asserts that
 * every call resolved and that every host sees every row, exactly; returns the reports.
 */
async function writeTogether(hosts, { db, distinct, shared, events }) {
  // Every host starts its load in the same tick, once all are connected.
  const loads = await askAll(hosts, 'load', (me) => ({ me, swarmId: 'shared-swarm', agents: AGENTS, distinct, shared, events }))
  for (const [me, load] of loads.entries()) {
    assert.ok(load.ok, `host ${me}: ${JSON.stringify(load.error)}`)
    assert.deepEqual(load.result, { calls: distinct + shared + events, resolved: distinct + shared + events, rejected: [] }, `host ${me}`)
  }
  // Reads start only once every host's writes are acknowledged: each must see all of them.
  const reports = (await askAll(hosts, 'report', () => ({ swarmId: 'shared-swarm', agents: AGENTS }))).map((r, me) => {
    assert.ok(r.ok, `host ${me}: ${JSON.stringify(r.error)}`)
    return r.result
  })
  const memoryRows = hosts.length * distinct + shared
  const expectedKeys = new Set()
  for (let me = 0; me < hosts.length; me++) for (let d = 0; d < distinct; d++) expectedKeys.add(`${AGENTS[d % AGENTS.length]}/p${me}-${d}`)
  for (let n = 0; n < shared; n++) expectedKeys.add(`${AGENTS[n % AGENTS.length]}/shared-${n}`)
  for (const [me, report] of reports.entries()) {
    const rows = Object.values(report.memory).flat()
    assert.equal(rows.length, memoryRows, `host ${me} sees every memory row`)
    assert.equal(new Set(rows.map(([id]) => id)).size, memoryRows, `host ${me}: memory ids are unique`)
    for (const [agent, agentRows] of Object.entries(report.memory)) {
      for (const [, agentId] of agentRows) assert.equal(agentId, agent)
    }
    assert.deepEqual(new Set(rows.map(([, agent, key]) => `${agent}/${key}`)), expectedKeys, `host ${me}: exactly the keys written`)
    for (const [, , key, value] of rows) {
      const own = /^p(\d+)-(\d+)$/.exec(key)
      // A host's own key holds what it wrote; a shared key holds what one of the hosts wrote.
      if (own) assert.deepEqual(value, { by: Number(own[1]), n: Number(own[2]) }, key)
      else assert.ok(value.n === Number(key.slice('shared-'.length)) && value.by >= 0 && value.by < hosts.length, `${key}: ${JSON.stringify(value)}`)
    }
    assert.equal(report.events.length, hosts.length * events, `host ${me} sees every event`)
    assert.equal(new Set(report.events.map(([id]) => id)).size, hosts.length * events, `host ${me}: event ids are unique`)
    for (let by = 0; by < hosts.length; by++) {
      const mine = report.events.filter(([, type, data]) => type === 'load' && data.by === by).map(([, , data]) => data.n)
      assert.deepEqual(new Set(mine), new Set(Array.from({ length: events }, (_, n) => n)), `host ${me} sees each of host ${by}'s events once`)
    }
    assert.equal(JSON.parse(report.swarmAgents).length, AGENTS.length)
  }
  // The hosts read the same database: the same rows, ids, values and order, byte for byte.
  for (const report of reports.slice(1)) {
    assert.equal(report.swarmAgents, reports[0].swarmAgents, 'getSwarmAgents answers alike on every host')
    assert.deepEqual(report.memory, reports[0].memory)
    assert.deepEqual(report.events, reports[0].events)
  }
  assert.equal(psql(db, 'SELECT count(*) FROM agent_memory'), String(memoryRows))
  assert.equal(psql(db, 'SELECT count(*) FROM events'), String(hosts.length * events))
  return reports
}

test('three processes writing one database at once: every process sees every row', { timeout: 300_000 }, async (t) => {
  if (!haveServer(t)) return
  const db = freshDatabase(url, 'hosts')
  await seedSwarm(db)
  const hosts = await Promise.all([0, 1, 2].map(() => host(t, db, { pgPoolSize: 2 })))
  for (const reply of await askAll(hosts, 'initialize')) assert.deepEqual(reply, { ok: true, result: null })
  // 5,000 memory upserts per host: 4,000 keys of its own, and 1,000 keys every host upserts.
  await writeTogether(hosts, { db, distinct: 4000, shared: 1000, events: 1000 })
  for (const h of hosts) assert.equal(await h.finish(), 0)
})

test(
  'three hosts upserting the same keys in different orders: every call resolves',
  {
    timeout: 300_000,
    // Each host's writer holds the rows of a whole group commit in one transaction, so hosts
    // taking shared keys in different orders deadlock; PostgreSQL's victim (40P01) is rolled
    // back whole and run again after a pause (src/pg/writer.rs), so no call fails.
  },
  async (t) => {
    if (!haveServer(t)) return
    const db = freshDatabase(url, 'order')
    // PostgreSQL looks for deadlocks after deadlock_timeout (1 s): sooner, so the test is short.
    // Setting it needs a superuser; without one the test only takes longer.
    try { psql(db, `ALTER DATABASE ${new URL(db).pathname.slice(1)} SET deadlock_timeout = '50ms'`) } catch {}
    await seedSwarm(db)
    const hosts = await Promise.all([0, 1, 2].map(() => host(t, db, { pgPoolSize: 1 })))
    for (const reply of await askAll(hosts, 'initialize')) assert.deepEqual(reply, { ok: true, result: null })
    const loads = await askAll(hosts, 'load', (me) => ({ me, swarmId: 'shared-swarm', agents: AGENTS, distinct: 0, shared: 600, events: 0, shuffle: true }))
    for (const h of hosts) await h.finish()
    // The rejections of each host by code and message: none expected.
    const rejected = loads.map((load) => {
      const byKind = {}
      for (const { code, message } of load.result.rejected) byKind[`${code}: ${message}`] = (byKind[`${code}: ${message}`] ?? 0) + 1
      return byKind
    })
    assert.deepEqual(rejected, [{}, {}, {}])
  },
)

/** Why this process cannot put hosts in network namespaces of their own, or null if it can. */
function namespacesUnusable() {
  if (!asRoot) return `network namespaces need root (ip netns add, veth pairs), and this process runs as uid ${process.getuid?.()}`
  const probe = `sp-probe-${process.pid}`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    return e.code === 'ENOENT' ? 'the ip command (iproute2) is not installed' : `ip netns add failed: ${String(e.stderr || e.message).trim()}`
  }
  try {
    const tag = process.pid % 100000
    execFileSync('ip', ['link', 'add', `spq${tag}h`, 'type', 'veth', 'peer', 'name', `spq${tag}c`, 'netns', probe], { stdio: ['ignore', 'pipe', 'pipe'] })
    return null
  } catch (e) {
    return `cannot create a veth pair into a network namespace: ${String(e.stderr || e.message).trim()}`
  } finally {
    // Deleting the namespace deletes its end of the pair, and with it the pair.
    try { execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' }) } catch {}
  }
}

/**
 * `count` network namespaces, each joined to this one by a veth pair with a /30 of its own in a
 * 10.231.X.0/24 no interface here uses yet: the namespace's end is .4i+2, this end .4i+1, the
 * address its host reaches the server at. `remove()` deletes them all.
 */
function namespaces(count) {
  const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  // Another test run may have its own 10.231.X here: take an X it does not use.
  const used = ip('-o', '-4', 'addr', 'show')
  let third = (process.pid % 200) + 20
  while (used.includes(`10.231.${third}.`)) third = (third + 1) % 256
  const tag = process.pid % 100000 // interface names are at most 15 characters
  const made = []
  const remove = () => {
    for (const { ns, hostSide } of made.splice(0)) {
      try { ip('netns', 'del', ns) } catch {}
      try { ip('link', 'del', hostSide) } catch {} // gone with the namespace, unless that failed
    }
  }
  process.on('exit', remove)
  try {
    for (let i = 0; i < count; i++) {
      const space = {
        ns: `sp-pg-${process.pid}-${i}`,
        hostSide: `sph${tag}x${i}`,
        nsSide: `spc${tag}x${i}`,
        serverAddress: `10.231.${third}.${4 * i + 1}`,
        address: `10.231.${third}.${4 * i + 2}`,
      }
      ip('netns', 'add', space.ns)
      made.push(space)
      ip('link', 'add', space.hostSide, 'type', 'veth', 'peer', 'name', space.nsSide, 'netns', space.ns)
      ip('addr', 'add', `${space.serverAddress}/30`, 'dev', space.hostSide)
      ip('link', 'set', space.hostSide, 'up')
      ip('-n', space.ns, 'addr', 'add', `${space.address}/30`, 'dev', space.nsSide)
      ip('-n', space.ns, 'link', 'set', space.nsSide, 'up')
      ip('-n', space.ns, 'link', 'set', 'lo', 'up')
    }
  } catch (e) {
    remove()
    throw e
  }
  return { spaces: [...made], subnet: `10.231.${third}.0/24`, remove }
}

test('three hosts in network namespaces of their own, over veth: every host sees every row', { timeout: 300_000 }, async (t) => {
  if (!haveServer(t)) return
  const unusable = namespacesUnusable()
  if (unusable) return t.skip(`network namespaces unusable here: ${unusable}`)
  const cluster = await privateCluster(t)
  if (!cluster) return
  const net3 = namespaces(3)
  t.after(net3.remove)
  // The server listens on this side of each veth too, and lets the namespaces' addresses in
  // (the later listen_addresses wins over pg-cluster's loopback-only one).
  appendFileSync(join(cluster.data, 'postgresql.conf'), `\nlisten_addresses = '127.0.0.1,${net3.spaces.map((s) => s.serverAddress).join(',')}'\n`)
  appendFileSync(join(cluster.data, 'pg_hba.conf'), `\nhost all all ${net3.subnet} trust\n`)
  serverRestart(cluster)
  const db = freshDatabase(cluster.url, 'netns', false)
  const name = new URL(db).pathname.slice(1)
  await seedSwarm(db)
  // Inside its namespace a host has no route to this one's loopback: the server is reached only
  // over its veth.
  assert.throws(() => execFileSync('ip', ['netns', 'exec', net3.spaces[0].ns, 'psql', '-X', '-Atc', 'select 1', `${db}?connect_timeout=2`], { stdio: 'pipe' }))
  const hosts = await Promise.all(net3.spaces.map((s) => {
    const there = new URL(db)
    there.hostname = s.serverAddress
    return host(t, there.toString(), { pgPoolSize: 2 }, ['ip', 'netns', 'exec', s.ns])
  }))
  for (const reply of await askAll(hosts, 'initialize')) assert.deepEqual(reply, { ok: true, result: null })
  await writeTogether(hosts, { db, distinct: 800, shared: 200, events: 200 })
  // The server saw the hosts' connections come from the three namespaces' addresses.
  const peers = psql(db, `SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE datname = '${name}' AND application_name LIKE 'swarm-persistence%' ORDER BY 1`)
  assert.deepEqual(peers.split('\n'), net3.spaces.map((s) => s.address).sort())
  for (const h of hosts) assert.equal(await h.finish(), 0)
})

// ---------------------------------------------------------------------------------------------
// 4. Connections lost, the server restarted

/**
 * Starts write number `i` tagged `tag`: a createAgent when `i` is even, else a storeMemory on one
 * of the seeded agents m0…m9. Its entry tells what it wrote (`kind`, `id`) and, once `settled`
 * resolves, how it ended (`outcome`: 'resolved' or the error's code).
 */
function startWrite(p, tag, i) {
  const call = i % 2 === 0
    ? { kind: 'agent', id: `${tag}-${i}`, promise: p.createAgent({ id: `${tag}-${i}`, swarmId: 's1', name: `agent ${i}`, type: 'worker' }) }
    : { kind: 'memory', id: `m${i % 10}/${tag}-${i}`, promise: p.storeMemory(`m${i % 10}`, `${tag}-${i}`, { tag, i }) }
  call.settled = call.promise.then(
    () => { call.outcome = 'resolved' },
    (e) => { call.outcome = e.code; call.message = e.message },
  )
  return call
}

/** `n` writes started at once. */
function writeBatch(p, tag, n) {
  const calls = Array.from({ length: n }, (_, i) => startWrite(p, tag, i))
  return { calls, settled: Promise.all(calls.map((c) => c.settled)) }
}

/**
 * `n` writes, `window` of them in flight at any time (one starts as one settles), so the pool is
 * busy from the first to the last; `onSettled(count)` runs after each.
 */
function writeStream(p, tag, n, window, onSettled) {
  const calls = []
  let count = 0
  const lane = async () => {
    while (calls.length < n) {
      const call = startWrite(p, tag, calls.length)
      calls.push(call)
      await call.settled
      onSettled((count += 1))
    }
  }
  return { calls, settled: Promise.all(Array.from({ length: window }, lane)) }
}

/** The agent ids and agent/key memory entries in the database, read outside the pool. */
function rowsIn(db) {
  const lines = (sql) => new Set(psql(db, sql).split('\n').filter(Boolean))
  return { agent: lines('SELECT id FROM agents'), memory: lines("SELECT agent_id || '/' || key FROM agent_memory") }
}

/** Every call resolved with its row there, or rejected CONNECTION_LOST; the counts of each. */
function assertOutcomes(db, calls) {
  const rows = rowsIn(db)
  const counts = {}
  for (const call of calls) {
    counts[call.outcome] = (counts[call.outcome] ?? 0) + 1
    if (call.outcome === 'resolved') assert.ok(rows[call.kind].has(call.id), `${call.kind} ${call.id} was acknowledged but is not there`)
    // A write lost while its COMMIT was under way may or may not be there; it is never another error.
    else assert.equal(call.outcome, 'CONNECTION_LOST', `${call.kind} ${call.id}: ${call.message}`)
  }
  return counts
}

const ourConnections = "application_name LIKE 'swarm-persistence%'"

test('every connection terminated with 2,000 writes in flight: each resolves (and is there) or rejects CONNECTION_LOST', { timeout: 300_000 }, async (t) => {
  const cluster = await privateCluster(t)
  if (!cluster) return
  const db = freshDatabase(cluster.url, 'kill', false)
  const p = new SwarmPersistencePooled(db, { pgPoolSize: 2 })
  t.after(() => p.close())
  await p.createSwarm({ id: 's1', name: 'Kill', topology: 'mesh', maxAgents: 5000 })
  for (let i = 0; i < 10; i++) await p.createAgent({ id: `m${i}`, swarmId: 's1', name: `m${i}`, type: 'memory' })

  // Round 1, at a known point: psql holds an exclusive lock on agents, so the writer (inside its
  // group's transaction, before COMMIT) and both readers wait on it when they are terminated.
  const holder = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', db], { stdio: ['pipe', 'ignore', 'inherit'] })
  holder.stdin.write('BEGIN;\nLOCK TABLE agents IN ACCESS EXCLUSIVE MODE;\n')
  t.after(() => holder.kill())
  await until('psql to hold the lock', () => psql(db, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'agents' AND l.mode = 'AccessExclusiveLock' AND l.granted") === '1')
  const first = writeBatch(p, 'r1', 2000)
  const reads = Array.from({ length: 20 }, () => p.getAgent('m0').then((a) => a?.id, (e) => e.code))
  // A reader sends the reads queued for it back to back, so one reader may hold all twenty: the
  // writer and at least one reader wait.
  await until('the writer and a reader to wait on the lock', () => Number(psql(db, `SELECT count(*) FROM pg_stat_activity WHERE ${ourConnections} AND wait_event_type = 'Lock'`)) >= 2)
  assert.ok(Number(psql(db, `SELECT count(*) FROM pg_stat_activity WHERE ${ourConnections} AND pg_terminate_backend(pid)`)) >= 2)
  holder.stdin.end('COMMIT;\n')
  await first.settled
  // Nothing had been sent for COMMIT when the connections died: the writer replays its group on
  // a new connection and each reader reads again, so here everything resolves.
  assert.deepEqual(assertOutcomes(db, first.calls), { resolved: 2000 })
  assert.deepEqual(await Promise.all(reads), reads.map(() => 'm0'))

  // Round 2, wherever the calls are: 2,000 writes streamed 100 at a time, and every connection
  // terminated after each 250 settle, so the kills land between groups, inside them and during
  // COMMITs. A connection lost during a COMMIT is the one case that rejects (CONNECTION_LOST).
  const kills = []
  const second = writeStream(p, 'r2', 2000, 100, (count) => {
    // Synchronous: no new call starts meanwhile, but the hundred in flight go on in the pool.
    if (count % 250 === 0 && count < 2000) kills.push(Number(psql(db, `SELECT count(*) FROM pg_stat_activity WHERE ${ourConnections} AND pg_terminate_backend(pid)`)))
  })
  await second.settled
  const counts = assertOutcomes(db, second.calls)
  assert.equal((counts.resolved ?? 0) + (counts.CONNECTION_LOST ?? 0), 2000, JSON.stringify({ counts, kills }))
  assert.ok(kills.some((n) => n > 0), `the kills found connections to end: ${kills}`)

  // Healthy again once a call has gone through on new connections.
  // (lastInsertRowid is not predictable here: identity values used by rolled-back groups are gone.)
  assert.equal((await p.createAgent({ id: 'after', swarmId: 's1', name: 'after', type: 'worker' })).changes, 1)
  assert.equal((await p.getAgent('after')).id, 'after')
  assert.equal(p.poolHealth().healthy, true)
  assert.equal(p.isHealthy(), true)
})

test('server restarted between writes, then down for a while: acknowledged rows survive, calls reject CONNECTION_LOST while it is down', { timeout: 300_000 }, async (t) => {
  const cluster = await privateCluster(t)
  if (!cluster) return
  const db = freshDatabase(cluster.url, 'restart', false)
  const p = new SwarmPersistencePooled(db, { pgPoolSize: 2, pgConnectTimeout: 2000 })
  t.after(() => p.close())
  await p.createSwarm({ id: 's1', name: 'Restart', topology: 'mesh', maxAgents: 5000 })
  for (let i = 0; i < 10; i++) await p.createAgent({ id: `m${i}`, swarmId: 's1', name: `m${i}`, type: 'memory' })
  const before = writeBatch(p, 'before', 600)
  await before.settled
  assert.deepEqual(assertOutcomes(db, before.calls), { resolved: 600 })
  // Reads open the readers' connections, so the restart breaks the writer's and the readers'.
  assert.equal((await p.getSwarmAgents('s1')).length, 310)

  serverRestart(cluster)
  // The pool's connections died with the old server: every write after it succeeds on new ones.
  const after = writeBatch(p, 'after', 600)
  await after.settled
  assert.deepEqual(assertOutcomes(db, after.calls), { resolved: 600 })
  const agents = new Set((await p.getSwarmAgents('s1')).map((a) => a.id))
  assert.equal(agents.size, 610)
  for (const call of [...before.calls, ...after.calls]) {
    if (call.kind === 'agent') assert.ok(agents.has(call.id), call.id)
  }
  let memory = 0
  for (let i = 0; i < 10; i++) memory += (await p.getAllMemory(`m${i}`)).length
  assert.equal(memory, 600, 'every acknowledged memory entry reads back')
  assert.equal(p.poolHealth().healthy, true)

  // Down: nothing can connect, and every kind of call says so.
  serverDown(cluster)
  await rejectsWith(p.createAgent({ id: 'down-1', swarmId: 's1', name: 'down', type: 'worker' }), 'CONNECTION_LOST')
  await rejectsWith(p.storeMemory('m0', 'down-1', { down: true }), 'CONNECTION_LOST')
  await rejectsWith(p.getAgent('m0'), 'CONNECTION_LOST')
  await rejectsWith(p.getAllMemory('m0'), 'CONNECTION_LOST')
  assert.equal(p.poolHealth().healthy, false)
  assert.equal(p.isHealthy(), false)
  assert.match(p.poolHealth().writes.last_failure, /CONNECTION_LOST/)

  serverUp(cluster)
  assert.equal((await p.createAgent({ id: 'up-1', swarmId: 's1', name: 'up', type: 'worker' })).changes, 1)
  assert.equal(p.poolHealth().healthy, true)
  assert.equal(p.isHealthy(), true)
  // The calls refused while it was down wrote nothing; everything acknowledged is there.
  assert.equal(await p.getAgent('down-1'), null)
  assert.equal(await p.getMemory('m0', 'down-1'), null)
  assert.equal((await p.getSwarmAgents('s1')).length, 611)
})

// ---------------------------------------------------------------------------------------------
// 5. Without prepared statements (PgBouncer's transaction pooling)

/** Every part of the domain, written and read back. `db` is for psql to age rows directly. */
async function roundTrip(p, db) {
  assert.deepEqual(await p.createSwarm({ id: 's1', name: 'Alpha', topology: 'mesh', maxAgents: 4, strategy: 'adaptive', metadata: { team: 'x' } }), { changes: 1, lastInsertRowid: 1 })
  assert.deepEqual(await p.createSwarm({ id: 's1', name: 'Again', topology: 'star', maxAgents: 9 }), { id: 's1', changes: 0, lastInsertRowid: null })
  const swarms = await p.getActiveSwarms()
  assert.deepEqual(swarms.map((s) => [s.id, s.name, s.max_agents, s.strategy, s.metadata]), [['s1', 'Alpha', 4, 'adaptive', { team: 'x' }]])

  await p.createAgent({ id: 'a1', swarmId: 's1', name: 'Ada', type: 'coder', capabilities: ['rust', 'js'], neuralConfig: { l: 3 } })
  await p.createAgent({ id: 'a2', swarmId: 's1', name: 'Bob', type: 'tester' })
  assert.equal((await p.updateAgentStatus('a2', 'busy')).changes, 1)
  const a1 = await p.getAgent('a1')
  assert.deepEqual({ ...a1, created_at: undefined }, {
    id: 'a1', swarm_id: 's1', name: 'Ada', type: 'coder', status: 'idle', capabilities: ['rust', 'js'],
    neural_config: { l: 3 }, metrics: {}, created_at: undefined,
  })
  assert.equal(await p.getAgent('nobody'), null)
  assert.deepEqual((await p.getSwarmAgents('s1')).map((a) => a.id).sort(), ['a1', 'a2'])
  assert.deepEqual((await p.getSwarmAgents('s1', 'busy')).map((a) => a.id), ['a2'])

  await p.createTask({ id: 't1', swarmId: 's1', description: 'build', assignedAgents: ['a1'] })
  await p.createTask({ id: 't2', swarmId: 's1', description: 'test', priority: 'high' })
  assert.equal((await p.updateTask('t1', { status: 'completed', result: { ok: true }, executionTimeMs: 42, completedAt: '2026-01-01 00:00:00' })).changes, 1)
  const t1 = await p.getTask('t1')
  assert.deepEqual([t1.status, t1.result, t1.execution_time_ms, t1.completed_at, t1.assigned_agents], ['completed', { ok: true }, 42, '2026-01-01 00:00:00', ['a1']])
  assert.deepEqual((await p.getSwarmTasks('s1', 'pending')).map((t) => [t.id, t.priority]), [['t2', 'high']])

  // Memory: an upsert keeps the row's id; a TTL gives an expiry.
  await p.storeMemory('a1', 'plan', { step: 1 }, 3600)
  const planId = (await p.getMemory('a1', 'plan')).id
  await p.storeMemory('a1', 'plan', { step: 2 }, 3600)
  await p.storeMemory('a1', 'scratch', 'soon gone', 60)
  await p.storeMemory('a1', 'forever', [1, 2, 3])
  const plan = await p.getMemory('a1', 'plan')
  assert.deepEqual([plan.id, plan.value, plan.ttl_secs], [planId, { step: 2 }, 3600])
  assert.match(plan.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  assert.equal((await p.getMemory('a1', 'forever')).expires_at, null)
  assert.equal((await p.getAllMemory('a1')).length, 3)
  // Expiry without waiting: the entry's expiry moved into the past, as time passing would.
  psql(db, "UPDATE agent_memory SET expires_at = '2000-01-01T00:00:00.000Z' WHERE key IN ('plan', 'scratch')")
  assert.equal(await p.getMemory('a1', 'plan'), null, 'an expired entry is not read')
  assert.deepEqual((await p.getAllMemory('a1')).map((m) => m.key), ['forever'])
  assert.equal(psql(db, 'SELECT count(*) FROM agent_memory'), '3', 'reads never delete')
  assert.equal((await p.deleteMemory('a1', 'forever')).changes, 1)

  await p.logEvent('s1', 'started', { n: 1 })
  await p.logEvent('s1', 'finished', { n: 2 })
  assert.deepEqual((await p.getSwarmEvents('s1')).map((e) => [e.event_type, e.event_data]), [['finished', { n: 2 }], ['started', { n: 1 }]])

  assert.equal((await p.recordMetric('agent', 'a1', 'latency', 12.5)).changes, 1)
  await p.recordMetric('agent', 'a1', 'throughput', 3)
  assert.deepEqual((await p.getMetrics('agent', 'a1')).map((m) => m.metric_name).sort(), ['latency', 'throughput'])
  assert.deepEqual((await p.getMetrics('agent', 'a1', 'latency')).map((m) => m.metric_value), [12.5])

  const { id: networkId } = await p.storeNeuralNetwork({ agentId: 'a1', architecture: { layers: [2, 1] }, weights: [0.5], trainingData: { epochs: 1 }, performanceMetrics: { accuracy: 0.9 } })
  assert.equal((await p.updateNeuralNetwork(networkId, { weights: [0.75], performanceMetrics: { accuracy: 0.95 } })).changes, 1)
  const networks = await p.getAgentNeuralNetworks('a1')
  assert.deepEqual(networks.map((n) => [n.id, n.architecture, n.weights, n.training_data, n.performance_metrics]),
    [[networkId, { layers: [2, 1] }, [0.75], { epochs: 1 }, { accuracy: 0.95 }]])

  // cleanup(): the two expired entries, one event aged past 7 days, one metric past 30.
  psql(db, "UPDATE events SET timestamp = '2000-01-01 00:00:00' WHERE event_type = 'started'")
  psql(db, "UPDATE metrics SET timestamp = '2000-01-01 00:00:00' WHERE metric_name = 'throughput'")
  assert.deepEqual(await p.cleanup(), { expiredMemory: 2, oldEvents: 1, oldMetrics: 1 })
  assert.deepEqual((await p.getSwarmEvents('s1')).map((e) => e.event_type), ['finished'])
  assert.equal((await p.cleanupExpiredMemory()).changes, 0)
}

test('pgPreparedStatements: false runs the whole domain; a bad POOL_PG_PREPARED_STATEMENTS is INVALID_CONFIG', async (t) => {
  if (!haveServer(t)) return
  const db = freshDatabase(url, 'unprepared')
  const p = new SwarmPersistencePooled(db, { pgPoolSize: 2, pgPreparedStatements: false })
  await roundTrip(p, db)
  await p.close()

  // The variable, as false, does the same (a new database: the round trip starts empty).
  const viaEnv = freshDatabase(url, 'unprepared_env')
  process.env.POOL_PG_PREPARED_STATEMENTS = 'false'
  let q
  try { q = new SwarmPersistencePooled(viaEnv, { pgPoolSize: 1 }) } finally { delete process.env.POOL_PG_PREPARED_STATEMENTS }
  await roundTrip(q, viaEnv)
  await q.close()

  // Options are read when the object is made; a bad value is reported by initialize and every call.
  process.env.POOL_PG_PREPARED_STATEMENTS = 'maybe'
  let bad
  try { bad = new SwarmPersistencePooled(viaEnv) } finally { delete process.env.POOL_PG_PREPARED_STATEMENTS }
  await rejectsWith(bad.initialize(), 'INVALID_CONFIG', /POOL_PG_PREPARED_STATEMENTS/)
  await rejectsWith(bad.getAgent('a1'), 'INVALID_CONFIG', /POOL_PG_PREPARED_STATEMENTS.*maybe/)
  await bad.close()
})

/** The pgbouncer program, or null. */
function pgbouncerProgram() {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    try {
      execFileSync(join(dir, 'pgbouncer'), ['--version'], { stdio: 'ignore' })
      return join(dir, 'pgbouncer')
    } catch {}
  }
  return null
}

/**
 * A PgBouncer in transaction pooling mode in front of POOL_TEST_PG_URL's server, on a free port,
 * with at most two server connections per database, so the pool's three connections (writer, two
 * readers) take turns on them: a statement prepared on one would be missing on another. Its URL
 * for `db`; stopped after the test. `settings` are added to its [pgbouncer] section.
 */
async function pgbouncer(t, program, db, settings = []) {
  const server = new URL(url)
  const dir = mkdtempSync(join(tmpdir(), 'sp-pgbouncer-'))
  const port = await freePort()
  const user = decodeURIComponent(server.username || 'postgres')
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`)
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = host=${server.hostname || '127.0.0.1'} port=${server.port || 5432}${server.password ? ` password=${decodeURIComponent(server.password)}` : ''}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'users.txt')}`,
    'pool_mode = transaction',
    'default_pool_size = 2',
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    ...settings,
    '',
  ].join('\n'))
  // PgBouncer refuses to run as root: it switches to postgres (-u), whose the folder then is.
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'])))
    for (const path of [dir, join(dir, 'users.txt'), join(dir, 'pgbouncer.ini')]) chownSync(path, uid, gid)
  }
  const bouncer = spawn(program, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' })
  let exited = false
  bouncer.on('exit', () => { exited = true })
  t.after(async () => {
    // SIGTERM: PgBouncer's immediate shutdown.
    if (!exited) {
      bouncer.kill('SIGTERM')
      await once(bouncer, 'exit')
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const through = new URL(db)
  through.hostname = '127.0.0.1'
  through.port = String(port)
  await until('PgBouncer to answer', () => {
    assert.equal(exited, false, 'pgbouncer exited at start')
    try { return psql(through.toString(), 'select 1') === '1' } catch { return false }
  })
  return through.toString()
}

test('through a real PgBouncer in transaction pooling mode, the whole domain works without prepared statements', async (t) => {
  if (!haveServer(t)) return
  const program = pgbouncerProgram()
  if (!program) return t.skip('pgbouncer is not installed (apt-get install pgbouncer)')
  const db = freshDatabase(url, 'bouncer')
  // With pgPreparedStatements false the pool sends no startup options (statement_timeout goes
  // in each transaction), so PgBouncer's default configuration takes it.
  const through = await pgbouncer(t, program, db)
  const p = new SwarmPersistencePooled(through, { pgPoolSize: 2, pgPreparedStatements: false })
  await roundTrip(p, db)
  // And under load: three connections sharing two server connections, transaction by transaction.
  const writes = []
  for (let i = 0; i < 300; i++) writes.push(p.storeMemory(i % 2 ? 'a1' : 'a2', `load-${i}`, { i }))
  for (let i = 0; i < 100; i++) writes.push(p.logEvent('s1', 'load', { i }))
  await Promise.all(writes)
  const reads = await Promise.all([p.getAllMemory('a1'), p.getAllMemory('a2'), p.getSwarmEvents('s1', 1000)])
  assert.deepEqual(reads.map((r) => r.length), [150, 150, 101])
  await p.close()
})

test(
  "through PgBouncer's default configuration (no ignore_startup_parameters), initialize works",
  {
    // The pool's connections used to send the startup parameter `options` (-c
    // statement_timeout=…), which PgBouncer refuses unless told to ignore it. Behind a pooler
    // the timeout is set per transaction instead.
  },
  async (t) => {
    if (!haveServer(t)) return
    const program = pgbouncerProgram()
    if (!program) return t.skip('pgbouncer is not installed (apt-get install pgbouncer)')
    const db = freshDatabase(url, 'bouncer_default')
    const through = await pgbouncer(t, program, db)
    const p = new SwarmPersistencePooled(through, { pgPoolSize: 1, pgPreparedStatements: false })
    try {
      await p.initialize()
      assert.deepEqual(await p.createSwarm({ id: 's1', name: 'A', topology: 'mesh', maxAgents: 1 }), { changes: 1, lastInsertRowid: 1 })
    } finally {
      await p.close()
    }
  },
)

// ---------------------------------------------------------------------------------------------
// 6. Error codes as on SQLite

test("PostgreSQL rejects with SQLite's codes for the same calls; backup and an unreachable server say what they are", async (t) => {
  if (!haveServer(t)) return
  const sqlite = new SwarmPersistencePooled(dbPath('codes'), { maxReaders: 1, maxWorkers: 1 })
  const pg = new SwarmPersistencePooled(freshDatabase(url, 'codes'), { pgPoolSize: 1 })
  for (const p of [sqlite, pg]) {
    await p.createSwarm({ id: 's1', name: 'Codes', topology: 'mesh', maxAgents: 3 })
    await p.createAgent({ id: 'a1', swarmId: 's1', name: 'Ada', type: 'coder' })
  }
  // Each call once on each backend: both reject, with one code, the one SQLite gives.
  const calls = [
    ['duplicate agent id', (p) => p.createAgent({ id: 'a1', swarmId: 's1', name: 'Dup', type: 'x' }), 'SQLITE_CONSTRAINT_PRIMARYKEY', /^UNIQUE constraint failed: agents\.id/],
    ['agent of a missing swarm', (p) => p.createAgent({ id: 'a2', swarmId: 'ghost', name: 'X', type: 'x' }), 'SQLITE_CONSTRAINT_FOREIGNKEY', /FOREIGN KEY constraint failed.*swarm "ghost" does not exist/],
    ['memory of a missing agent', (p) => p.storeMemory('ghost', 'k', 1), 'SQLITE_CONSTRAINT_FOREIGNKEY', /FOREIGN KEY constraint failed.*agent "ghost" does not exist/],
    ['an unknown updateTask field', (p) => p.updateTask('t1', { nonsense: 1 }), 'INVALID_ARGUMENT'],
    ['a TTL over 100 years', (p) => p.storeMemory('a1', 'k', 1, 4e9), 'INVALID_ARGUMENT'],
  ]
  for (const [what, call, code, message] of calls) {
    const [onSqlite, onPg] = await Promise.allSettled([call(sqlite), call(pg)])
    assert.equal(onSqlite.status, 'rejected', `${what} on SQLite`)
    assert.equal(onPg.status, 'rejected', `${what} on PostgreSQL`)
    assert.equal(onPg.reason.code, onSqlite.reason.code, `${what}: ${onPg.reason.message}`)
    assert.equal(onPg.reason.code, code, what)
    if (message) {
      assert.match(onSqlite.reason.message, message, `${what} on SQLite`)
      assert.match(onPg.reason.message, message, `${what} on PostgreSQL`)
    }
  }
  assert.equal((await pg.getSwarmAgents('s1')).length, 1, 'nothing was written by the failed calls')
  await rejectsWith(pg.backup(dbPath('backup')), 'NOT_SUPPORTED', /pg_dump/)
  await sqlite.close()
  await pg.close()

  // Nothing listens on port 1: initialize rejects CONNECTION_LOST, and so does a retry.
  const unreachable = new SwarmPersistencePooled('postgres://postgres@127.0.0.1:1/x', { pgConnectTimeout: 500, pgPoolSize: 1 })
  await rejectsWith(unreachable.initialize(), 'CONNECTION_LOST')
  await rejectsWith(unreachable.initialize(), 'CONNECTION_LOST')
  assert.equal(unreachable.isHealthy(), false)
  await unreachable.close()
})

// ---------------------------------------------------------------------------------------------
// 7. What the payloads say about the server

test('pool_health carries the server’s state: the URL without its password, open connections, outages', async (t) => {
  if (!haveServer(t)) return
  const db = new URL(freshDatabase(url, 'payload'))
  db.password = 'not-shown' // trust authentication ignores it; the payload must not repeat it
  const p = new SwarmPersistencePooled(db.toString(), { pgPoolSize: 2, maxWorkers: 1 })
  await p.createSwarm({ id: 's1', name: 'A', topology: 'mesh', maxAgents: 1 })
  await p.getActiveSwarms()
  const { server, healthy, pool_status: status } = p.poolHealth()
  assert.equal(healthy, true)
  assert.equal(server.backend, 'postgres')
  assert.ok(!server.url.includes('not-shown') && server.url.includes(':***@'), server.url)
  assert.ok(server.connections_open >= 2, `writer and a reader: ${server.connections_open}`)
  assert.equal(server.writer_connected, true)
  assert.equal(server.outage, null)
  assert.equal(status.total_connections, 4, 'the writer, two readers, a worker')
  assert.equal(status.available_readers, 2)
  assert.equal(status.available_workers, 1)
  assert.match(p.metrics(), /swarm_pool_healthy 1/)
  await p.close()
  assert.equal(p.poolHealth().healthy, false)
  // An unreachable server: the outage is named, and nothing is open.
  const down = new SwarmPersistencePooled('postgres://postgres@127.0.0.1:1/none', { pgConnectTimeout: 500 })
  await rejectsWith(down.initialize(), 'CONNECTION_LOST')
  await down.close()
})

test('lists run on worker connections: point reads answer while every worker waits, and a list past queryTimeout rejects QUERY_TIMEOUT', { timeout: 120_000 }, async (t) => {
  if (!haveServer(t)) return
  const db = freshDatabase(url, 'workers')
  const p = new SwarmPersistencePooled(db, { pgPoolSize: 2, maxWorkers: 2 })
  t.after(() => p.close())
  await p.createSwarm({ id: 's1', name: 'W', topology: 'mesh', maxAgents: 10 })
  await p.createAgent({ id: 'a1', swarmId: 's1', name: 'a1', type: 'worker' })
  for (let i = 0; i < 5; i++) await p.recordMetric('agent', 'a1', 'cpu', i)
  const before = p.getPoolStats()

  // psql holds an exclusive lock on metrics: every list of metrics waits on it, on a worker.
  const holder = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', db], { stdio: ['pipe', 'ignore', 'inherit'] })
  holder.stdin.write('BEGIN;\nLOCK TABLE metrics IN ACCESS EXCLUSIVE MODE;\n')
  t.after(() => holder.kill())
  await until('psql to hold the lock', () => psql(db, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'metrics' AND l.mode = 'AccessExclusiveLock' AND l.granted") === '1')
  const lists = Array.from({ length: 4 }, () => p.getMetrics('agent', 'a1'))
  await until('both workers to wait on the lock', () => psql(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'swarm-persistence worker%' AND wait_event_type = 'Lock'") === '2')
  // Point reads go to the readers, which nothing blocks.
  const agents = await Promise.all(Array.from({ length: 50 }, () => p.getAgent('a1')))
  assert.deepEqual(new Set(agents.map((a) => a.id)), new Set(['a1']))
  const waiting = p.getPoolStats()
  assert.equal(waiting.availableWorkers, 0, 'both workers are busy')
  assert.equal(waiting.availableReaders, 2)
  assert.equal(waiting.totalReads - before.totalReads, 50)
  holder.stdin.end('COMMIT;\n')
  const answered = await Promise.all(lists)
  assert.deepEqual(answered.map((m) => m.length), [5, 5, 5, 5])
  assert.deepEqual(answered[0].map((m) => m.metric_value).sort(), [0, 1, 2, 3, 4])
  const after = p.getPoolStats()
  assert.equal(after.totalWorkerTasks - before.totalWorkerTasks, 4)
  assert.equal(after.totalReads - before.totalReads, 50, 'the lists were not counted as reads')
  assert.equal(after.workerQueueLength, 0)

  // A worker's statements are limited by queryTimeout, as a reader's are.
  const short = freshDatabase(url, 'workers_timeout')
  const q = new SwarmPersistencePooled(short, { maxWorkers: 1, queryTimeout: 300 })
  t.after(() => q.close())
  await q.createSwarm({ id: 's1', name: 'T', topology: 'mesh', maxAgents: 10 })
  await q.createAgent({ id: 'a1', swarmId: 's1', name: 'a1', type: 'worker' })
  const blocker = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', short], { stdio: ['pipe', 'ignore', 'inherit'] })
  blocker.stdin.write('BEGIN;\nLOCK TABLE agents IN ACCESS EXCLUSIVE MODE;\n')
  t.after(() => blocker.kill())
  await until('psql to hold the lock', () => psql(short, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'agents' AND l.mode = 'AccessExclusiveLock' AND l.granted") === '1')
  await rejectsWith(q.getSwarmAgents('s1'), 'QUERY_TIMEOUT')
  blocker.stdin.end('COMMIT;\n')
  await once(blocker, 'exit')
  assert.deepEqual((await q.getSwarmAgents('s1')).map((a) => a.id), ['a1'], 'the worker answers again')
  assert.equal(q.getPoolStats().failedWorkerTasks, 1)
})
