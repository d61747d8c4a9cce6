// The five workloads W1–W5 and how they are driven and measured, shared by the SQLite benchmark
// (run.js) and the PostgreSQL one (pg.js). A library is an object of the operations peers.js
// defines (createAgent, getAgent, updateStatus, upsertMemory, seedMetrics, aggregate, count).
'use strict'
const { LoopMonitor, quantile } = require('../bin/measure')

const N = 10_000
// Operations of the measured kind run before each measurement, for every library alike, so the
// figures are not dominated by one-time costs (JIT compilation, caches, first allocations).
const WARMUP = 1_000

const now = () => performance.now()

/** Issues `count` operations with `inFlight` outstanding at a time, recording each latency. */
async function drive(count, inFlight, op) {
  const lat = new Array(count)
  let next = 0
  const lane = async () => {
    while (next < count) {
      const i = next++
      const t = now()
      await op(i)
      lat[i] = now() - t
    }
  }
  // Start the lanes a chunk per turn of the event loop, as a server receiving requests would.
  const lanes = []
  for (let started = 0; started < Math.min(inFlight, count); started++) {
    if (started > 0 && started % 500 === 0) await new Promise(setImmediate)
    lanes.push(lane())
  }
  await Promise.all(lanes)
  return lat
}

/**
 * Keeps `inFlight` operations outstanding until `done()` is true, keeping no latencies: an
 * open-ended run recording them would grow an array past a million entries, and V8 copying it
 * as it grows stalls the event loop for tens of milliseconds, which the loop monitor would then
 * count against the library measured.
 */
async function sustain(inFlight, op, done) {
  const lane = async () => {
    while (!done()) await op()
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
}

function stats(lat, ms) {
  const sorted = lat.slice().sort((a, b) => a - b)
  return { ops: lat.length, ops_per_sec: (lat.length * 1000) / ms, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) }
}

async function measure(fn) {
  const loop = new LoopMonitor(2)
  const t = now()
  const lat = await fn()
  const ms = now() - t
  loop.stop()
  return { ...stats(lat, ms), loop_max_ms: loop.maxDelayMs() }
}

const ids = (n, prefix = 'a') => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
const shuffled = (xs) => xs.map((x) => [Math.random(), x]).sort((a, b) => a[0] - b[0]).map(([, x]) => x)

async function seedAgents(lib, n) {
  await drive(n, 256, (i) => lib.createAgent(`a${i}`))
}

/**
 * W1–W5. W4 is "heavy reads while point reads continue": `heavy.title` says what they are,
 * `heavy.rows()` the metric rows seeded for them, and each library's `aggregate()` runs one;
 * `heavy.name` and `heavy.short` name them in the results table ('aggregates', 'agg').
 */
function workloads(heavy) {
  return [
    {
      key: 'W1', title: `${N.toLocaleString('en')} concurrent single-row inserts (createAgent)`,
      async run(lib) {
        await drive(WARMUP, WARMUP, (i) => lib.createAgent(`warm-${i}`))
        const r = await measure(() => drive(N, N, (i) => lib.createAgent(`w1-${i}`)))
        r.check = (await lib.count('agents')) === WARMUP + N ? 'all rows present' : 'ROWS MISSING'
        return r
      },
    },
    {
      key: 'W2', title: `${N.toLocaleString('en')} concurrent point reads by primary key (getAgent)`,
      async run(lib) {
        await seedAgents(lib, N)
        const order = shuffled(ids(N))
        let found = 0
        await drive(WARMUP, WARMUP, (i) => lib.getAgent(order[i]))
        const r = await measure(() => drive(N, N, async (i) => { if (await lib.getAgent(order[i])) found++ }))
        r.check = found === N ? 'all rows found' : `ONLY ${found} FOUND`
        return r
      },
    },
    {
      key: 'W3', title: '20,000 ops: 80% point reads / 20% updates, 64 in flight',
      async run(lib) {
        await seedAgents(lib, 2_000)
        await drive(WARMUP, 64, (i) => (i % 5 === 0 ? lib.updateStatus(`a${i}`, 'idle') : lib.getAgent(`a${i}`)))
        const r = await measure(() => drive(20_000, 64, (i) => {
          const id = `a${Math.floor(Math.random() * 2_000)}`
          return i % 5 === 0 ? lib.updateStatus(id, i % 2 ? 'busy' : 'idle') : lib.getAgent(id)
        }))
        r.check = 'ok'
        return r
      },
    },
    {
      key: 'W4', title: heavy.title, heavy,
      async run(lib) {
        await seedAgents(lib, 2_000)
        await lib.seedMetrics(heavy.rows())
        // Point reads alone, for one second.
        let count = 0
        const read = async () => { await lib.getAgent(`a${Math.floor(Math.random() * 2_000)}`); count++ }
        const stopAt = now() + 1_000
        let t = now()
        await sustain(64, read, () => now() > stopAt)
        const alone = (count * 1000) / (now() - t)
        // The same reads while 20 heavy reads run (2 at a time).
        count = 0
        let finished = false
        const loop = new LoopMonitor(2)
        t = now()
        const reads = sustain(64, read, () => finished)
        const aggLat = await drive(20, 2, () => lib.aggregate())
        finished = true
        const ms = now() - t
        await reads
        loop.stop()
        const during = (count * 1000) / ms
        return {
          ...stats(aggLat, ms),
          loop_max_ms: loop.maxDelayMs(),
          reads_alone_per_sec: alone,
          reads_during_per_sec: during,
          reads_kept: during / alone,
          check: `point reads kept ${(100 * during / alone).toFixed(0)}%`,
        }
      },
    },
    {
      key: 'W5', title: `${N.toLocaleString('en')} concurrent upserts to one key space (1,000 keys × 10)`,
      async run(lib) {
        await seedAgents(lib, 1)
        await drive(WARMUP, WARMUP, (i) => lib.upsertMemory('a0', `warm${i}`, { i }))
        const r = await measure(() => drive(N, N, (i) => lib.upsertMemory('a0', `k${i % 1_000}`, { i })))
        const rows = (await lib.count('agent_memory')) - WARMUP
        r.check = rows === 1_000 ? 'nothing lost (1,000 keys)' : `LOST: ${rows} keys`
        r.lost = 1_000 - rows
        return r
      },
    },
  ]
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** One library's figures for workload `key`: the median of its runs, every run's check. */
function summarize(key, runs) {
  const pick = (k) => median(runs.map((x) => x[k]))
  const m = { ops_per_sec: pick('ops_per_sec'), p50: pick('p50'), p99: pick('p99'), loop_max_ms: pick('loop_max_ms'), check: runs.map((x) => x.check).join('; ') }
  if (key === 'W4') Object.assign(m, { reads_alone_per_sec: pick('reads_alone_per_sec'), reads_during_per_sec: pick('reads_during_per_sec'), reads_kept: pick('reads_kept') })
  if (key === 'W5') m.lost = Math.max(...runs.map((x) => x.lost))
  return m
}

/**
 * Runs each of `workloads` (those named in `only`, or all) `runs` times for each of `peers`,
 * every run on a fresh database: `fresh(workload)` makes one and gives where it is, `make(where)`
 * opens a library on it, `drop(where)` removes it. Prints each library's summary as it is done;
 * returns them by workload key and library name. `opened(lib)` sees every library opened.
 */
async function runAll({ workloads, peers, runs, only, fresh, drop, opened = () => {} }) {
  const results = {}
  for (const w of workloads.filter((x) => !only || only.includes(x.key))) {
    results[w.key] = {}
    for (const make of peers) {
      const measured = []
      let name
      for (let r = 0; r < runs; r++) {
        const where = await fresh(w)
        const lib = await make(where)
        name = lib.name
        opened(lib)
        measured.push(await w.run(lib))
        await lib.close()
        await drop(where)
      }
      const m = summarize(w.key, measured)
      results[w.key][name] = m
      console.error(line(w.key, name, m))
    }
  }
  return results
}

/** The progress line printed for a library's summary. */
function line(key, name, m) {
  return `${key} ${name.padEnd(18)} ${m.ops_per_sec.toFixed(0).padStart(8)} ops/s  p50 ${m.p50.toFixed(3)} ms  p99 ${m.p99.toFixed(3)} ms  loop max ${m.loop_max_ms.toFixed(1)} ms  ${m.check}`
}

const fmt = (x, d = 0) => x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d })

/**
 * A workload's results under a heading of level `heading`, as a Markdown table (`r`: library
 * name → summary) with each peer's ratio `ours` ÷ peer. W4 is compared on the point reads kept
 * going during the heavy reads. With `limit` ({ rate, how }: the no-JavaScript limit, raw.js) the
 * table starts with that limit's row and says what fraction of it each library reached.
 */
function table(w, r, ours, heading = '##', limit = undefined) {
  const lines = [`${heading} ${w.key}: ${w.title}`, '']
  const share = (v) => (limit ? ` ${fmt((100 * v) / limit.rate)}% |` : '')
  const shareHead = limit ? ' of limit |' : ''
  const shareRule = limit ? '---:|' : ''
  if (w.key === 'W4') {
    const { name: heavyName, short: h } = w.heavy
    lines.push(`| library | ${heavyName}/s | ${h} p50 ms | ${h} p99 ms | point reads/s alone | point reads/s during | kept | loop max ms | ratio (reads during) |${shareHead}`, `|---|---:|---:|---:|---:|---:|---:|---:|---:|${shareRule}`)
    if (limit) lines.push(`| raw limit: rusqlite, no JavaScript (${limit.how}) | — | — | — | ${fmt(limit.rate)} | — | — | — | — | 100% |`)
    for (const [name, m] of Object.entries(r)) {
      lines.push(`| ${name} | ${fmt(m.ops_per_sec, 1)} | ${fmt(m.p50, 1)} | ${fmt(m.p99, 1)} | ${fmt(m.reads_alone_per_sec)} | ${fmt(m.reads_during_per_sec)} | ${fmt(100 * m.reads_kept)}% | ${fmt(m.loop_max_ms, 1)} | ${name === ours ? '—' : `${fmt(r[ours].reads_during_per_sec / m.reads_during_per_sec, 2)}x`} |${share(m.reads_during_per_sec)}`)
    }
  } else {
    lines.push(`| library | ops/s | p50 ms | p99 ms | loop max ms | ratio |${shareHead} check |`, `|---|---:|---:|---:|---:|---:|${shareRule}---|`)
    if (limit) lines.push(`| raw limit: rusqlite, no JavaScript | ${fmt(limit.rate)} | — | — | — | — | 100% | ${limit.how} |`)
    for (const [name, m] of Object.entries(r)) {
      lines.push(`| ${name} | ${fmt(m.ops_per_sec)} | ${fmt(m.p50, 3)} | ${fmt(m.p99, 3)} | ${fmt(m.loop_max_ms, 1)} | ${name === ours ? '—' : `${fmt(r[ours].ops_per_sec / m.ops_per_sec, 2)}x`} |${share(m.ops_per_sec)} ${m.check} |`)
    }
  }
  lines.push('')
  return lines
}

module.exports = { N, WARMUP, drive, measure, median, workloads, runAll, summarize, line, table, fmt }
