// The storage backends a SwarmPersistencePooled spec runs on, so each behaviour is proven on
// every one of them: SQLite always, PostgreSQL when POOL_TEST_PG_URL names a server (in CI it
// must; elsewhere its tests are skipped and say why).
//
// A backend is { name, skip, location(label), sql(persistence, text), daysAgo(n) }:
// - location(label): a fresh, empty database to pass to `new SwarmPersistencePooled(...)` (SQLite:
//   a file path named after label; PostgreSQL: the URL of a new database sp_<pid>_<n>, dropped
//   when the process exits).
// - sql(p, text): raw SQL on the database `p` uses, for state the API cannot check or arrange;
//   a query resolves to its rows as objects, a statement to [].
// - daysAgo(n): an SQL expression for the time n days ago, in the timestamp columns' format.
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { dbPath } from './helpers.mjs'

// A query returns rows; a statement (a PRAGMA that sets included) does not.
const QUERY = /^\s*(select|with|values|explain)\b|^\s*pragma\s+[^=]*$/i

const sqlite = {
  name: 'sqlite',
  skip: false,
  location: (label = 'db') => dbPath(label),
  async sql(p, text) {
    if (QUERY.test(text)) return p.pool.read(text)
    await p.pool.write(text)
    return []
  },
  daysAgo: (n) => `datetime('now', '-${n} days')`,
}

const adminUrl = process.env.POOL_TEST_PG_URL?.trim()

if (!adminUrl && process.env.CI === 'true') {
  throw new Error(
    'POOL_TEST_PG_URL is not set, and CI must test the PostgreSQL backend: set it to a server URL ' +
      '(e.g. postgres://postgres@127.0.0.1:55432/postgres) or run the specs through bin/with-postgres.js',
  )
}

/** Runs SQL through psql on the database `url` names; its unaligned, tuples-only output. */
function psql(url, ...commands) {
  const args = [url, '-Atq', '-v', 'ON_ERROR_STOP=1']
  for (const c of commands) args.push('-c', c)
  return execFileSync('psql', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

const created = []
let made = 0

function dropCreated() {
  if (created.length === 0) return
  try {
    // One psql for all of them; WITH (FORCE) ends connections a test left open.
    psql(adminUrl, ...created.splice(0).map((name) => `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  } catch {
    // Quietly: a database left behind is named sp_<pid>_<n> and harms nothing.
  }
}

const postgres = {
  name: 'postgres',
  skip: adminUrl ? false : 'POOL_TEST_PG_URL is not set: the PostgreSQL backend is not tested (set it to e.g. postgres://postgres@127.0.0.1:55432/postgres)',
  location() {
    if (!adminUrl) throw new Error(postgres.skip)
    made += 1
    const name = `sp_${process.pid}_${made}`
    if (made === 1) process.on('exit', dropCreated)
    // A database of that name can only be left over from a dead process with the same pid.
    psql(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`)
    created.push(name)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return url.href
  },
  async sql(p, text) {
    if (!QUERY.test(text)) {
      psql(p.dbPath, text)
      return []
    }
    // `alias.*` is the whole row even when the query has a column of the alias's name.
    return JSON.parse(psql(p.dbPath, `SELECT coalesce(json_agg(sp_row.*), '[]') FROM (${text}) sp_row`))
  },
  daysAgo: (n) => `to_char((now() AT TIME ZONE 'UTC') - interval '${n} days', 'YYYY-MM-DD HH24:MI:SS')`,
}

export const backends = [sqlite, postgres]

/** Registers `fn(backend)` as one test per backend, the backend's name leading its title. */
export function eachBackend(title, fn) {
  for (const backend of backends) test(`[${backend.name}] ${title}`, { skip: backend.skip }, () => fn(backend))
}

/** The backend called `name`, for tests of one backend only. */
export const backend = (name) => backends.find((b) => b.name === name)
