// The main job: a realistic swarm workload on the embedded default database, all operations
// concurrent, with a progress line on stderr and a summary of what the pool did.
'use strict'
const { SwarmPersistencePooled } = require('..')
const { parseArgs } = require('node:util')
const { Progress } = require('./progress')
const { LoopMonitor, Latencies } = require('./measure')

const HELP = `usage: swarm-persistence [run] [--db PATH] [--agents N] [--duration S] [--concurrency N] [--json]
  --db PATH         database file (default ./data/swarm.db, or POOL_DB_PATH)
  --agents N        agents to create (default 200)
  --duration S      seconds of mixed load after setup (default 10)
  --concurrency N   operations in flight (default 64)
  --json            print the summary as JSON on stdout`

function options(argv) {
  const { values } = parseArgs({
    args: argv,
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
    if (!Number.isInteger(n) || n < min) throw Object.assign(new Error(`--${name} must be a whole number ≥ ${min}`), { code: 'INVALID_ARGUMENT' })
    return n
  }
  const duration = Number(values.duration)
  if (!(duration > 0)) throw Object.assign(new Error('--duration must be a positive number of seconds'), { code: 'INVALID_ARGUMENT' })
  return { help: values.help, db: values.db, agents: whole('agents', 1), duration, concurrency: whole('concurrency', 1), json: values.json }
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
  if (opts.help) return console.log(HELP)
  const loop = new LoopMonitor()
  const lat = new Latencies()
  const p = new SwarmPersistencePooled(opts.db ?? null)
  const run = `run${Date.now().toString(36)}`
  const state = { run, swarms: [], agents: [], tasks: [], ops: 0 }
  const started = Date.now()
  await p.initialize()

  // Setup: swarms, agents and a first batch of tasks, all issued at once.
  const progress = new Progress(process.stderr, opts.json)
  const swarmCount = Math.max(1, Math.ceil(opts.agents / 50))
  for (let s = 0; s < swarmCount; s++) state.swarms.push(`${run}-s${s}`)
  await Promise.all(state.swarms.map((id) => timed(lat, 'createSwarm', () =>
    p.createSwarm({ id, name: id, topology: pick(['mesh', 'star', 'hierarchical']), maxAgents: 50, metadata: { run } }))))
  for (let a = 0; a < opts.agents; a++) state.agents.push(`${run}-a${a}`)
  await Promise.all(state.agents.map((id, i) => timed(lat, 'createAgent', () =>
    p.createAgent({ id, swarmId: state.swarms[i % swarmCount], name: id, type: pick(['coder', 'researcher', 'tester']), capabilities: ['x'] }))))
  const initialTasks = opts.agents * 10
  const setupTasks = Array.from({ length: initialTasks }, (_, t) => {
    const id = `${run}-t${t}`
    state.tasks.push(id)
    return timed(lat, 'createTask', () => p.createTask({ id, swarmId: state.swarms[t % swarmCount], description: 'seed', assignedAgents: [pick(state.agents)] }))
  })
  await Promise.all(setupTasks)

  // Timed phase: the weighted mix, `concurrency` in flight.
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
  const wall = (Date.now() - started) / 1000
  const health = p.poolHealth()
  const stats = p.poolStats()
  await p.close()
  loop.stop()

  const summary = {
    database: p.dbPath,
    run,
    wall_seconds: wall,
    operations: lat.summary(wall),
    total_operations: lat.count(),
    total_errors: lat.errorCount(),
    event_loop_max_delay_ms: loop.maxDelayMs(),
    commits: stats.pool_metrics.commits,
    pool_health: health,
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n')
  } else {
    printSummary(summary)
  }
  return summary.total_errors === 0 ? 0 : 1
}

function printSummary(s) {
  const rows = s.operations.map((o) => [o.kind, o.count, o.errors, o.ops_per_sec.toFixed(0), o.p50_ms.toFixed(2), o.p99_ms.toFixed(2)])
  const head = ['operation', 'count', 'errors', 'ops/s', 'p50 ms', 'p99 ms']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  console.log(`\nswarm-persistence main job — ${s.database} (${s.run})`)
  console.log(line(head))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(line(r))
  console.log(`\n${s.total_operations} operations in ${s.wall_seconds.toFixed(1)} s, ${s.total_errors} errors, ${s.commits} commits`)
  console.log(`event loop worst delay: ${s.event_loop_max_delay_ms.toFixed(1)} ms`)
  console.log('pool_health:', JSON.stringify(s.pool_health, null, 2))
}

module.exports = { main, HELP }
