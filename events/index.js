// `watch(pool)`: pool events for those who want them, as a thin layer over the synchronous
// payloads. A ticking, unref'd timer compares snapshots, so watching never keeps Node alive.
'use strict'
const { EventEmitter } = require('node:events')

function invalid(message) {
  return Object.assign(new TypeError(message), { code: 'INVALID_ARGUMENT' })
}

/**
 * Events (all synchronous with the tick that saw the change):
 * - `health` (pool_health payload): after every health check the pool completed;
 * - `unhealthy` / `recovered` (pool_health payload): when health flips;
 * - `wal` (wal status): when the WAL goes over its limit;
 * - `backup` (BackupResult) / `backupError` (message): when a backup finished;
 * - `close`: once the pool is closed; the watcher stops by itself.
 */
class PoolWatcher extends EventEmitter {
  constructor(target, interval) {
    super()
    this.target = target
    this.last = null
    this.timer = setInterval(() => this.tick(), interval)
    this.timer.unref()
  }

  stats() {
    return typeof this.target.getPoolStats === 'function' ? this.target.getPoolStats() : this.target.getStats()
  }

  tick() {
    const health = this.target.poolHealth()
    const stats = this.stats()
    // A persistence layer has no pool stats before initialize() and after close().
    if (stats === null || stats.closed) {
      if (this.last !== null || stats !== null) {
        this.stop()
        this.emit('close')
      }
      return
    }
    const now = { checked: health.last_health_check, healthy: health.healthy, overLimit: health.wal?.over_limit === true, backups: stats.backups }
    const before = this.last
    this.last = now
    if (before === null) return
    if (now.checked !== before.checked) this.emit('health', health)
    if (now.healthy !== before.healthy) this.emit(now.healthy ? 'recovered' : 'unhealthy', health)
    if (now.overLimit && !before.overLimit) this.emit('wal', health.wal)
    if (now.backups.completed > before.backups.completed && now.backups.last) this.emit('backup', now.backups.last)
    if (now.backups.failed > before.backups.failed) this.emit('backupError', now.backups.last_error)
  }

  stop() {
    clearInterval(this.timer)
  }
}

/** Watches a SQLiteConnectionPool or SwarmPersistencePooled every `interval` ms (default 1000). */
function watch(target, { interval = 1000 } = {}) {
  if (!target || typeof target.poolHealth !== 'function') throw invalid('watch() takes a SQLiteConnectionPool or SwarmPersistencePooled')
  if (!Number.isInteger(interval) || interval < 1) throw invalid('interval must be a whole number of milliseconds ≥ 1')
  return new PoolWatcher(target, interval)
}

module.exports = { watch, PoolWatcher }
