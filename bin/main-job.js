// The main job: a realistic swarm workload on the embedded default database, all operations
// concurrent, with a progress line on stderr and a summary of what the pool did.
'use strict'
const { SwarmPersistencePooled } = require('..')
const { parseArgs } = require('node:util')
const { statSync } = require('node:fs')
const { randomBytes } = require('node:crypto')
const { Progress } = require('./progress')
const { LoopMonitor, Latencies } = require('./measure')

const HELP = `usage: swarm-persistence [run] [--db PATH] [--agents N] [--duration S] [--concurrency N] [--json]
       swarm-persistence mcp --db PATH
       swarm-persistence migrate --from PATH --to postgres://… [--merge] [--json]

commands:
  run (default)     the main job: a mixed swarm workload, then a summary of what the pool did
    --db PATH         database file (default ./data/swarm.db, or POOL_DB_PATH)
    --agents N        agents to create (default 200)
    --duration S      seconds of mixed load after setup (default 10)
    --concurrency N   operations in flight (default 64)
    --json            print the summary as one JSON document on stdout
  mcp               an MCP server on stdio over the database at --db PATH
  migrate           copy a SQLite database into PostgreSQL and verify it (migrate --help)

Pool settings come from POOL_* environment variables. Exit codes: 0 ok, 1 runtime failure,
2 bad arguments or configuration.`

const NUMERIC = ['agents', 'duration', 'concurrency']

const invalid = (message) => Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' })

/** Joins `--duration -1` into `--duration=-1`: parseArgs takes a leading dash for an option. */
function joinNegatives(argv) {
  const out = []
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : null
    if (NUMERIC.includes(name) && /^-[\d.]/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`)
    else out.push(argv[i])
  }
  return out
}

function options(argv) {
  const { values } = parseArgs({
    args: joinNegatives(argv),
    options: {
      db: { type: 'string' },
      agents: { type: 'string', default: '200' },
      duration: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '64' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  const whole = (name, min) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < min) throw invalid(`--${name} must be a whole number ≥ ${min}`)
    return n
  }
  const duration = Number(values.duration)
  if (!(duration > 0) || !Number.isFinite(duration)) throw invalid('--duration must be a positive number of seconds')
  return { help: values.help, db: values.db, agents: whole('agents', 1), duration, concurrency: whole('concurrency', 1), json: values.json }
}

/** SQLite's own message for a directory ("unable to open database file") does not say why. */
function checkDbPath(path) {
  let stat
  // Anything stat cannot see (missing, unreadable parent) is left for SQLite to report.
  try { stat = path && statSync(path) } catch { return }
  if (stat?.isDirectory()) throw invalid(`database path ${path} is a directory, not a database file`)
}

/** A readable, sortable id from the UTC start time, with a random tail so runs never collide. */
function runId(date = new Date()) {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `run-${stamp}-${randomBytes(2).toString('hex')}`
}

const TASK_STATUSES = ['pending', 'running', 'completed', 'failed']
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)]

/** The weighted mix of operations run during the timed phase. */
function mix(p, state) {
  const agent = () => pick(state.agents)
  const swarm = () => pick(state.swarms)
  return [
    [30, 'getMemory', () => p.getMemory(agent(), `k${Math.floor(Math.random() * 64)}`)],
    [15, 'storeMemory', () => p.storeMemory(agent(), `k${Math.floor(Math.random() * 64)}`, { at: Date.now(), n: state.ops }, pick([null, 30, 3600]))],
    [12, 'getAgent', () => p.getAgent(agent())],
    [8, 'updateTask', () => p.updateTask(pick(state.tasks), { status: pick(TASK_STATUSES), execution_time_ms: Math.floor(Math.random() * 500) })],
    [6, 'createTask', () => {
      const id = `${state.run}-t${state.tasks.length}`
      state.tasks.push(id)
      return p.createTask({ id, swarmId: swarm(), description: 'generated', assignedAgents: [agent()] })
    }],
    [8, 'recordMetric', () => p.recordMetric('agent', agent(), pick(['cpu', 'mem', 'latency']), Math.random() * 100)],
    [6, 'logEvent', () => p.logEvent(swarm(), pick(['heartbeat', 'task_done', 'scaled']), { at: Date.now() })],
    [5, 'getSwarmTasks', () => p.getSwarmTasks(swarm(), pick([null, 'running']))],
    [4, 'getAllMemory', () => p.getAllMemory(agent())],
    [3, 'getSwarmEvents', () => p.getSwarmEvents(swarm(), 20)],
    [2, 'updateAgentStatus', () => p.updateAgentStatus(agent(), pick(['idle', 'busy']))],
    [1, 'aggregate', () => p.pool.executeInWorker(
      `SELECT entity_id, metric_name, count(*) AS n, avg(metric_value) AS mean, max(metric_value) AS peak
       FROM metrics WHERE entity_type = 'agent' GROUP BY entity_id, metric_name ORDER BY n DESC LIMIT 20`)],
    [1, 'aggregate', () => p.pool.executeInWorker(
      'SELECT swarm_id, status, count(*) AS n, avg(execution_time_ms) AS ms FROM tasks GROUP BY swarm_id, status')],
  ]
}

async function timed(lat, kind, fn) {
  const t = process.hrtime.bigint()
  try {
    await fn()
    lat.add(kind, Number(process.hrtime.bigint() - t) / 1e6)
  } catch (err) {
    lat.fail(kind, err)
  }
}

/** Runs `next()` with `concurrency` operations in flight until `until()` says stop. */
async function drive(concurrency, until, next) {
  const lanes = Array.from({ length: concurrency }, async () => {
    while (!until()) await next()
  })
  await Promise.all(lanes)
}

async function main(argv) {
  const opts = options(argv)
  if (opts.help) {
    console.log(HELP)
    return 0
  }
  checkDbPath(opts.db ?? process.env.POOL_DB_PATH)
  const p = new SwarmPersistencePooled(opts.db ?? null)
  const loop = new LoopMonitor()
  const progress = new Progress(process.stderr, opts.json)
  const started = Date.now()
  let result
  try {
    result = await job(p, opts, progress)
    await p.close()
  } catch (err) {
    // The job's own error is the one to report, not a close failing after it.
    await p.close().catch(() => {})
    throw err
  } finally {
    // Every exit path stops the timers, so a failure exits at once.
    progress.stop(false)
    loop.stop()
  }
  const { setup, phase, lat, capacity, health, poolStats } = result
  const checkpoints = health?.wal?.checkpoints ?? poolStats?.checkpoints ?? null
  const summary = {
    database: p.dbPath,
    run_id: result.run,
    wall_seconds: (Date.now() - started) / 1000,
    setup,
    phase: { ...phase, operations: lat.count(), errors: lat.errorCount(), ops_per_sec: lat.count() / phase.seconds },
    operations: lat.summary(phase.seconds),
    event_loop_max_delay_ms: loop.maxDelayMs(),
    commits: poolStats?.commits ?? null,
    checkpoints,
    health: healthSummary(health, capacity, checkpoints),
    pool_health: health,
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n')
  } else {
    printSummary(summary)
  }
  return setup.errors + summary.phase.errors === 0 ? 0 : 1
}

/** Setup, then the timed phase; returns what the summary needs, read before the pool closes. */
async function job(p, opts, progress) {
  await p.initialize()
  // The idle pool right after opening has every reader and worker available: the capacity.
  const open = p.poolHealth()?.pool_status
  const capacity = { readers: open?.available_readers, workers: open?.available_workers }
  const run = runId()
  const state = { run, swarms: [], agents: [], tasks: [], ops: 0 }

  // Setup: swarms, agents and a first batch of tasks, all issued at once; not part of the rate.
  const setupLat = new Latencies()
  const setupStart = Date.now()
  const swarmCount = Math.max(1, Math.ceil(opts.agents / 50))
  for (let s = 0; s < swarmCount; s++) state.swarms.push(`${run}-s${s}`)
  await Promise.all(state.swarms.map((id) => timed(setupLat, 'createSwarm', () =>
    p.createSwarm({ id, name: id, topology: pick(['mesh', 'star', 'hierarchical']), maxAgents: 50, metadata: { run } }))))
  for (let a = 0; a < opts.agents; a++) state.agents.push(`${run}-a${a}`)
  await Promise.all(state.agents.map((id, i) => timed(setupLat, 'createAgent', () =>
    p.createAgent({ id, swarmId: state.swarms[i % swarmCount], name: id, type: pick(['coder', 'researcher', 'tester']), capabilities: ['x'] }))))
  const initialTasks = opts.agents * 10
  const setupTasks = Array.from({ length: initialTasks }, (_, t) => {
    const id = `${run}-t${t}`
    state.tasks.push(id)
    return timed(setupLat, 'createTask', () => p.createTask({ id, swarmId: state.swarms[t % swarmCount], description: 'seed', assignedAgents: [pick(state.agents)] }))
  })
  await Promise.all(setupTasks)
  const setup = { seconds: (Date.now() - setupStart) / 1000, operations: setupLat.count(), errors: setupLat.errorCount() }

  // Timed phase: the weighted mix, `concurrency` in flight.
  const lat = new Latencies()
  const ops = mix(p, state)
  const total = ops.reduce((s, [w]) => s + w, 0)
  const choose = () => {
    let r = Math.random() * total
    for (const op of ops) if ((r -= op[0]) < 0) return op
    return ops[0]
  }
  const phaseStart = Date.now()
  const deadline = phaseStart + opts.duration * 1000
  progress.start(opts.duration * 1000, () => ({ done: lat.count(), elapsed: Date.now() - phaseStart }))
  await drive(opts.concurrency, () => Date.now() >= deadline, async () => {
    const [, kind, fn] = choose()
    state.ops++
    await timed(lat, kind, fn)
  })
  progress.stop()
  const phase = { seconds: (Date.now() - phaseStart) / 1000 }
  return { run, setup, phase, lat, capacity, health: p.poolHealth(), poolStats: p.getPoolStats() }
}

const mb = (bytes) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`

/**
 * One line: "ok · writer ok · readers 6/6 · …", or "DEGRADED — <problems first> · …".
 * `capacity` is the readers and workers available when the pool opened, idle; `checkpoints`
 * the pool stats' counter, for an engine whose health payload lacks one.
 */
function healthSummary(h, capacity = {}, checkpoints) {
  if (!h || typeof h !== 'object') return 'unavailable'
  const s = h.pool_status ?? {}
  const problems = []
  const fine = []
  const count = (what, have, max) => {
    if (typeof have !== 'number') return
    if (typeof max === 'number' && have < max) problems.push(`${what} ${have}/${max} answering`)
    else fine.push(typeof max === 'number' ? `${what} ${have}/${max}` : `${what} ${have}`)
  }
  const readersShort = s.available_readers < capacity.readers
  const workersShort = s.available_workers < capacity.workers
  // Health is writer && all readers && all workers: unhealthy with neither short blames the writer.
  if (h.healthy === false && !readersShort && !workersShort) problems.push('WRITER NOT ANSWERING')
  else if (h.healthy === true) fine.push('writer ok')
  count('readers', s.available_readers, capacity.readers)
  count('workers', s.available_workers, capacity.workers)
  const wal = h.wal
  if (wal && typeof wal.wal_bytes === 'number') {
    const limit = typeof wal.wal_limit === 'number' ? ` / ${mb(wal.wal_limit)}` : ''
    const n = wal.checkpoints ?? checkpoints
    const done = typeof n === 'number' ? `, ${n} checkpoints` : ''
    if (wal.over_limit ?? wal.wal_bytes > wal.wal_limit) problems.push(`WAL OVER LIMIT ${mb(wal.wal_bytes)}${limit}${done}`)
    else fine.push(`WAL ${mb(wal.wal_bytes)}${limit}${done}`)
  }
  if (problems.length || h.healthy === false) return `DEGRADED — ${[...problems, ...fine].join(' · ')}`
  return [h.healthy === true ? 'ok' : 'unknown', ...fine].join(' · ')
}

function printSummary(s) {
  const rows = s.operations.map((o) => [o.kind, o.count, o.errors, o.ops_per_sec.toFixed(0), o.p50_ms.toFixed(2), o.p99_ms.toFixed(2)])
  const head = ['operation', 'count', 'errors', 'ops/s', 'p50 ms', 'p99 ms']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  console.log(`\nswarm-persistence main job\n  run id:   ${s.run_id}\n  database: ${s.database}`)
  console.log(`\nsetup: ${s.setup.operations} operations in ${s.setup.seconds.toFixed(1)} s, ${s.setup.errors} errors\n`)
  console.log(line(head))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
  const ph = s.phase
  console.log(`\n${ph.operations} operations in ${ph.seconds.toFixed(1)} s (${ph.ops_per_sec.toFixed(0)} ops/s), ${ph.errors} errors, ${s.commits ?? '?'} commits`)
  console.log(`event loop worst delay: ${s.event_loop_max_delay_ms.toFixed(1)} ms`)
  console.log(`health: ${s.health}`)
}

module.exports = { main, HELP, healthSummary, runId }
