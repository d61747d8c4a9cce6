// The package's entry: the native classes with the surface JavaScript code expects of them.
// `SQLiteConnectionPool` is an EventEmitter with the events ruv-swarm's pool emitted,
// `transaction(fn)` runs an interactive transaction, `iterate()` streams rows, calls take an
// AbortSignal, and both classes close at the end of an `await using` scope. The native addon does
// the work; this file only wires it to Node's EventEmitter, `async` functions, async generators,
// AbortSignal listeners and disposal.
'use strict'
const { EventEmitter } = require('node:events')
const native = require('./binding')

const NativePool = native.SQLiteConnectionPool

// Every pool object, including `persistence.pool`, inherits EventEmitter's methods. Its own
// state (`_events`) is created on first use, so the native constructor need not call it.
Object.setPrototypeOf(NativePool.prototype, EventEmitter.prototype)

function define(prototype, key, value) {
  Object.defineProperty(prototype, key, { configurable: true, writable: true, value })
}

/**
 * Runs `call(token)` for a call with `options`: when `options.signal` aborts, the call's job is
 * called off (a queued job never runs and rejects ABORTED, a running read is interrupted, a write
 * that started completes); the rejection's `cause` is the signal's reason. Listening here rather
 * than natively because the listener must go when the promise settles, which a `then` says in
 * two lines; the native side reads the signal, refuses what is not one and rejects an
 * already-aborted call without queueing it.
 */
function withSignal(options, call) {
  const abortable = native.__abortable(options)
  if (abortable === undefined) return call(undefined)
  const [token, signal] = abortable
  if (signal === undefined) return call(token)
  const onAbort = () => native.__abort(token)
  try {
    signal.addEventListener('abort', onAbort)
  } catch (err) {
    // Only an object posing as an AbortSignal throws here; the call rejects, it never throws.
    const refused = new Error(`options.signal could not be listened to: ${err?.message ?? err}`)
    return Promise.reject(Object.assign(refused, { code: 'INVALID_ARGUMENT' }))
  }
  // The call has settled by then: a signal whose removeEventListener throws must not turn a
  // committed write (or any settled call) into a rejection, so what it throws is dropped.
  const stop = () => {
    try {
      signal.removeEventListener('abort', onAbort)
    } catch {}
  }
  let settled
  try {
    settled = call(token)
  } catch (err) {
    stop()
    throw err
  }
  return settled.then(
    (value) => {
      stop()
      return value
    },
    (err) => {
      stop()
      if (err?.code === 'ABORTED' && signal.aborted) err.cause = signal.reason
      throw err
    },
  )
}

// Methods whose last argument is the call's options, by the number of arguments before it.
const TAKE_OPTIONS = { read: 2, get: 2, executeInWorker: 2, write: 2, pragma: 2, exec: 1 }
for (const [name, before] of Object.entries(TAKE_OPTIONS)) {
  const run = NativePool.prototype[name]
  const wrapped =
    before === 2
      ? function (a, b, options) {
          if (options === undefined || options === null) return run.call(this, a, b)
          return withSignal(options, (token) => run.call(this, a, b, options, token))
        }
      : function (a, options) {
          if (options === undefined || options === null) return run.call(this, a)
          return withSignal(options, (token) => run.call(this, a, options, token))
        }
  Object.defineProperty(wrapped, 'name', { value: name })
  define(NativePool.prototype, name, wrapped)
}

const runBatch = NativePool.prototype.transaction
define(NativePool.prototype, 'transaction', function transaction(work, options) {
  if (typeof work === 'function') {
    if (options === undefined || options === null) return interactive(this, work)
    const refused = badOptions(options)
    if (refused) return Promise.reject(refused)
    // A signal is refused natively (__begin); options without one change nothing.
    return withSignal(options, (token) => interactive(this, work, token))
  }
  if (options === undefined || options === null) return runBatch.call(this, work)
  return withSignal(options, (token) => runBatch.call(this, work, options, token))
})

/**
 * Why `options` of `transaction(fn, options)` are refused (undefined when they are fine), as the
 * native calls refuse them: anything but a plain object, or a `raw` that is not a boolean. `fn`
 * returns what it likes, so `raw` changes nothing there, but a bad one is still a mistake.
 */
function badOptions(options) {
  const invalid = (message) => Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' })
  try {
    if (typeof options !== 'object' || Array.isArray(options)) {
      return invalid('options must be an object such as { raw: true }')
    }
    const raw = options.raw
    if (raw !== undefined && raw !== null && typeof raw !== 'boolean') return invalid('options.raw must be a boolean')
  } catch (err) {
    return invalid(`reading an argument threw: ${err?.message ?? err}`)
  }
  return undefined
}

// `await using pool = new SQLiteConnectionPool(…)` closes it at the end of the scope. Node 20
// has the symbol (without the syntax); older runtimes' polyfills use the registered one.
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
for (const Class of [NativePool, native.SwarmPersistencePooled]) {
  define(Class.prototype, asyncDispose, function dispose() {
    return this.close()
  })
}

/**
 * `transaction(async (tx) => …)`: BEGIN IMMEDIATE on the writer, `fn` runs statements through
 * `tx` (seeing its own writes), COMMIT when it resolves, ROLLBACK when it throws (the rejection
 * is its error). Other writes wait meanwhile; past `queryTimeout` the transaction is rolled back.
 */
async function interactive(pool, fn, token) {
  const id = await pool.__begin(token)
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

Object.defineProperty(NativePool.prototype, 'iterate', {
  configurable: true,
  writable: true,
  value: function iterate(sql, params, options) {
    return streamRows(this, sql, params, options)
  },
})

/**
 * `iterate(sql, params, { batchSize })`: the rows of a read-only query, one at a time, read
 * `batchSize` at a time from one snapshot on a reader as the loop asks for them. The query starts
 * with the first `next()`. Every `next()` tells the reader the consumer is still there; after
 * `queryTimeout` without one the reader lets go and the next `next()` rejects with QUERY_TIMEOUT.
 * Leaving the loop (break, return, throw) resolves only once the reader let go.
 */
async function* streamRows(pool, sql, params, options) {
  const iteration = pool.__iterOpen(sql, params, options)
  try {
    for (;;) {
      const rows = await iteration.next()
      if (rows.length === 0) return
      for (let i = 0; i < rows.length; i++) {
        yield rows[i]
        iteration.pull()
      }
    }
  } finally {
    await iteration.close()
  }
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

module.exports = {
  SQLiteConnectionPool,
  SwarmPersistencePooled: native.SwarmPersistencePooled,
  copyToPostgres: native.copyToPostgres,
}
