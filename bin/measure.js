// Measuring from the JavaScript side: per-operation latencies and the event loop's worst delay.
'use strict'

/** A timer ticking every `periodMs`; any lateness is time the event loop was blocked. */
class LoopMonitor {
  constructor(periodMs = 5) {
    this.period = periodMs
    this.max = 0
    this.last = performance.now()
    this.timer = setInterval(() => {
      const now = performance.now()
      this.max = Math.max(this.max, now - this.last - this.period)
      this.last = now
    }, periodMs)
    // Measuring must never be what keeps the process alive.
    this.timer.unref()
  }
  maxDelayMs() {
    return Math.max(0, this.max)
  }
  stop() {
    // A loop blocked until now never ran the timer: count that lateness too.
    this.max = Math.max(this.max, performance.now() - this.last - this.period)
    clearInterval(this.timer)
  }
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}

class Latencies {
  constructor() {
    this.byKind = new Map()
    this.errors = new Map()
    this.total = 0
  }
  add(kind, ms) {
    if (!this.byKind.has(kind)) this.byKind.set(kind, [])
    this.byKind.get(kind).push(ms)
    this.total++
  }
  fail(kind, err) {
    const e = this.errors.get(kind) ?? { n: 0, codes: {} }
    e.n++
    e.codes[err.code ?? 'UNKNOWN'] = (e.codes[err.code ?? 'UNKNOWN'] ?? 0) + 1
    this.errors.set(kind, e)
    this.total++
  }
  count() {
    return this.total
  }
  errorCount() {
    let n = 0
    for (const e of this.errors.values()) n += e.n
    return n
  }
  summary(seconds) {
    const kinds = new Set([...this.byKind.keys(), ...this.errors.keys()])
    return [...kinds].map((kind) => {
      const xs = (this.byKind.get(kind) ?? []).slice().sort((a, b) => a - b)
      const err = this.errors.get(kind)
      return {
        kind,
        count: xs.length + (err?.n ?? 0),
        errors: err?.n ?? 0,
        error_codes: err?.codes ?? {},
        ops_per_sec: (xs.length + (err?.n ?? 0)) / seconds,
        p50_ms: quantile(xs, 0.5),
        p99_ms: quantile(xs, 0.99),
      }
    }).sort((a, b) => b.count - a.count)
  }
}

module.exports = { LoopMonitor, Latencies, quantile }
