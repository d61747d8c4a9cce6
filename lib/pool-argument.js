// The pool an adapter (Kysely dialect, Drizzle driver) is given: checked once, where it is
// given, so a wrong value fails there with INVALID_ARGUMENT rather than at the first query.
'use strict'

/** Returns `pool` if it is a SQLiteConnectionPool (or alike); throws INVALID_ARGUMENT naming `argument`. */
function checkPool(pool, argument) {
  const usable = pool !== null && typeof pool === 'object' &&
    ['read', 'get', 'write', 'transaction'].every((method) => typeof pool[method] === 'function')
  if (!usable) {
    const hint = pool === null
      ? ' (a SwarmPersistencePooled has its pool only after `await persistence.initialize()`)'
      : ''
    throw Object.assign(
      new TypeError(`${argument} must be a SQLiteConnectionPool, e.g. \`new SQLiteConnectionPool(path)\` or \`persistence.pool\`${hint}`),
      { code: 'INVALID_ARGUMENT' },
    )
  }
  return pool
}

module.exports = { checkPool }
