// The package's entry: the native classes with the surface JavaScript code expects of them.
// `SQLiteConnectionPool` is an EventEmitter with the events ruv-swarm's pool emitted, and
// `transaction(fn)` runs an interactive transaction. The native addon does the work; this file
// only wires it to Node's EventEmitter and to `async` functions.
'use strict'
const { EventEmitter } = require('node:events')
const native = require('./binding')

const NativePool = native.SQLiteConnectionPool

// Every pool object, including `persistence.pool`, inherits EventEmitter's methods. Its own
// state (`_events`) is created on first use, so the native constructor need not call it.
Object.setPrototypeOf(NativePool.prototype, EventEmitter.prototype)

const runBatch = NativePool.prototype.transaction
Object.defineProperty(NativePool.prototype, 'transaction', {
  configurable: true,
  writable: true,
  value: function transaction(work, options) {
    return typeof work === 'function' ? interactive(this, work) : runBatch.call(this, work, options)
  },
})

/**
 * `transaction(async (tx) => …)`: BEGIN IMMEDIATE on the writer, `fn` runs statements through
 * `tx` (seeing its own writes), COMMIT when it resolves, ROLLBACK when it throws (the rejection
 * is its error). Other writes wait meanwhile; past `queryTimeout` the transaction is rolled back.
 */
async function interactive(pool, fn) {
  const id = await pool.__begin()
  const tx = Object.freeze({
    read: (sql, params, options) => pool.__run(id, 0, sql, params, options),
    get: (sql, params, options) => pool.__run(id, 1, sql, params, options),
    write: (sql, params, options) => pool.__run(id, 2, sql, params, options),
  })
  let result
  try {
    result = await fn(tx)
  } catch (err) {
    await pool.__end(id, false)
    pool.emit('transaction-error', err)
    throw err
  }
  try {
    await pool.__end(id, true)
  } catch (err) {
    pool.emit('transaction-error', err)
    throw err
  }
  return result
}

class SQLiteConnectionPool extends NativePool {
  /** `persistence.pool`, made natively, is a SQLiteConnectionPool too. */
  static [Symbol.hasInstance](object) {
    return object instanceof NativePool
  }

  constructor(path, options) {
    super(path, options)
    this.__attach()
    const [readers, workers] = this.__threads()
    // After the constructor returns, so listeners attached right after `new` hear them; a
    // resolved promise (not a timer) so fake timers cannot hold them back.
    Promise.resolve().then(() => {
      this.emit('write-connection-ready')
      for (let i = 0; i < readers; i++) this.emit('reader-connection-ready', i)
      for (let i = 0; i < workers; i++) this.emit('worker-ready', i)
      this.emit('ready')
    })
  }
}

// `persistence.pool` is the same kind of object, and hears its pool's events too.
const persistencePool = Object.getOwnPropertyDescriptor(native.SwarmPersistencePooled.prototype, 'pool').get
Object.defineProperty(native.SwarmPersistencePooled.prototype, 'pool', {
  configurable: true,
  get() {
    const pool = persistencePool.call(this)
    pool?.__attach()
    return pool
  },
})

module.exports = { SQLiteConnectionPool, SwarmPersistencePooled: native.SwarmPersistencePooled }
