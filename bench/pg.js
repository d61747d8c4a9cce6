// Side-by-side benchmark on PostgreSQL: swarm-persistence vs node-postgres (pg.Pool), the five
// workloads of the SQLite benchmark on one server, a fresh database (CREATE DATABASE) per library
// and run, medians of RUNS runs. Writes the PostgreSQL section of RESULTS.md.
//
// The server: POOL_BENCH_PG_URL, else POOL_TEST_PG_URL (a database to connect to, as a role that
// may create databases), else a throwaway cluster (bin/pg-cluster.js) when PostgreSQL's server
// programs are installed. Without any of them the part is skipped, saying why.
'use strict'
const os = require('node:os')
const { peers, metricRows } = require('./pg-peers')
const { workloads, runAll, table, fmt } = require('./workloads')
const { writePostgres } = require('./results-file')
const { findBinDir, start, stop } = require('../bin/pg-cluster')

const RUNS = Number(process.env.BENCH_RUNS || 3)
// BENCH_ONLY=W2,W4 runs some workloads (for profiling); RESULTS.md is written only for a full run.
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null
const SP = 'swarm-persistence'
const PEER = 'pg.Pool'

const WORKLOADS = workloads({
  title: '20 scans of 200,000 metric rows (getMetrics: the latest 100 of one entity) while point reads continue',
  name: 'scans',
  short: 'scan',
  rows: metricRows,
})

const req = (m) => require(require.resolve(m, { paths: [__dirname] }))

/**
 * The server to use: { url, where, cluster } (`where` says how it was chosen, without the URL's
 * password), or { skipped } saying why there is none.
 */
async function server() {
  for (const name of ['POOL_BENCH_PG_URL', 'POOL_TEST_PG_URL']) {
    const url = process.env[name]?.trim()
    if (url) {
      const { hostname, port } = new URL(url)
      const local = /^(127\.|localhost$|\[::1\]$)/.test(hostname)
      return { url, where: `the server at ${hostname}:${port || 5432} (${name}), ${local ? 'on this machine' : 'over the network'}` }
    }
  }
  if (!findBinDir()) {
    return { skipped: 'POOL_BENCH_PG_URL and POOL_TEST_PG_URL are not set, and no PostgreSQL server programs were found to start a throwaway cluster (apt-get install postgresql, or set POOL_BENCH_PG_URL=postgres://user@host:port/db)' }
  }
  const cluster = await start()
  return { url: cluster.url, where: 'a throwaway cluster started for the run on this machine (bin/pg-cluster.js)', cluster }
}

/** Makes and drops the benchmark's databases, through a connection to the server's URL. */
async function databases(url) {
  const { Client } = req('pg')
  const admin = new Client({ connectionString: url })
  await admin.connect()
  const show = async (setting) => (await admin.query(`SHOW ${setting}`)).rows[0][setting]
  const settings = {}
  for (const s of ['server_version', 'fsync', 'synchronous_commit', 'shared_buffers']) settings[s] = await show(s)
  // Named after this process and a random part, so runs on one server (from other machines too,
  // whose process ids may be the same) never meet.
  const prefix = `sp_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  let made = 0
  const live = new Set()
  return {
    settings,
    /** A new empty database: its URL. */
    async fresh() {
      const name = `${prefix}_${++made}`
      await admin.query(`CREATE DATABASE ${name}`)
      live.add(name)
      const u = new URL(url)
      u.pathname = `/${name}`
      return u.href
    },
    async drop(dbUrl) {
      const name = new URL(dbUrl).pathname.slice(1)
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      live.delete(name)
    },
    /** Drops what is left (after a failure) and disconnects. */
    async close() {
      for (const name of live) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {})
      await admin.end()
    },
  }
}

async function main() {
  const found = await server()
  if (found.skipped) return console.error(`PostgreSQL part skipped: ${found.skipped}`)
  console.error(`PostgreSQL part on ${found.where}`)
  // The machine may be shared (with the server, at least): how busy it was is part of the result.
  const load = os.loadavg()[0]
  let dbs
  let lanes
  let results
  try {
    dbs = await databases(found.url)
    results = await runAll({
      workloads: WORKLOADS,
      peers,
      runs: RUNS,
      only: ONLY,
      fresh: () => dbs.fresh(),
      drop: (url) => dbs.drop(url),
      opened: (lib) => {
        if (lib.lanes) lanes = lib.lanes
      },
    })
  } finally {
    await dbs?.close()
    if (found.cluster) stop(found.cluster)
  }
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.arch()}`
  if (ONLY) return console.error('partial run (BENCH_ONLY): RESULTS.md left as it was')
  writePostgres(report(results, `${machine}, load average ${load.toFixed(1)} at the start`, found.where, dbs.settings, lanes))
  console.error('wrote the PostgreSQL section of bench/RESULTS.md')
}

function report(results, machine, where, settings, lanes) {
  const pg = req('pg/package.json').version
  const how = process.env.npm_lifecycle_event ? `npm run ${process.env.npm_lifecycle_event}` : 'node bench/pg.js'
  const flush = settings.fsync === 'off' || settings.synchronous_commit === 'off'
    ? `With fsync ${settings.fsync} and synchronous_commit ${settings.synchronous_commit} a commit waits for no WAL flush: group commit saves round trips and per-transaction work here, not flushes.`
    : `With fsync and synchronous_commit ${settings.synchronous_commit} each commit waits for its WAL flush, which group commit shares.`
  const lines = [
    '## PostgreSQL (pg.Pool)',
    '',
    `Machine: ${machine}. Server: PostgreSQL ${settings.server_version}, ${where}; fsync ${settings.fsync}, synchronous_commit ${settings.synchronous_commit}, shared_buffers ${settings.shared_buffers}. Medians of ${RUNS} runs, a fresh database (CREATE DATABASE) per library and run, generated by \`${how}\` on ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `- swarm-persistence: \`new SwarmPersistencePooled(url)\` with default options (one writer connection committing queued writes in pipelined groups, ${lanes.readers} reader connections for point reads, ${lanes.workers} worker connections for lists), through its domain methods (createAgent, getAgent, updateAgentStatus, storeMemory, recordMetric to seed W4, getMetrics).`,
    `- pg.Pool: node-postgres ${pg}, a \`pg.Pool\` of its default size (10 connections), each call autocommitted, sending the statements swarm-persistence sends (an INSERT with \`RETURNING rowid, (xmax = 0)\`) as named prepared statements, on the tables SwarmPersistencePooled created in its database; JSON columns parsed as swarm-persistence returns them.`,
    '- W4: the heavy read is a domain read, getMetrics for the entity that has all 200,000 rows (PostgreSQL reads them all to find the latest 100), run the same way by both (swarm-persistence runs lists on its worker connections, pg.Pool on any of its connections); the table is VACUUM ANALYZEd after seeding for both. Not comparable with the SQLite W4 above (GROUP BY on a worker thread).',
    `- ${flush}`,
    '',
    'Ratios are swarm-persistence ÷ pg.Pool (higher is better for swarm-persistence). "Loop max" is the worst lateness of a 2 ms ticking timer: how long the event loop was blocked.',
    '',
  ]
  for (const w of WORKLOADS) lines.push(...table(w, results[w.key], SP, '###'))
  const sp = (k) => results[k][SP]
  const vs = (k) => sp(k).ops_per_sec / results[k][PEER].ops_per_sec
  const mark = (ok) => (ok ? 'met' : '**missed**')
  lines.push('### Goals', '', '| goal | measured | |', '|---|---|---|')
  lines.push(`| W1 ≥ 3x pg.Pool autocommit inserts | ${fmt(vs('W1'), 2)}x | ${mark(vs('W1') >= 3)} |`)
  lines.push(`| W2 ≥ 1x pg.Pool point reads | ${fmt(vs('W2'), 2)}x | ${mark(vs('W2') >= 1)} |`)
  for (const w of WORKLOADS) {
    lines.push(`| ${w.key} event loop blocked ≤ 20 ms | ${fmt(sp(w.key).loop_max_ms, 1)} ms | ${mark(sp(w.key).loop_max_ms <= 20)} |`)
  }
  lines.push('')
  return lines.join('\n')
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
