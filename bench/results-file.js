// bench/RESULTS.md has two parts, each written whole by its own benchmark: the SQLite results
// (run.js) and, after a marker line, the PostgreSQL section (pg.js). Either rewrites its part and
// keeps the other as it was, so each part is always one run of its benchmark.
'use strict'
const { existsSync, readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const FILE = join(__dirname, 'RESULTS.md')
const MARKER = '<!-- PostgreSQL section: written by bench/pg.js (npm run bench:pg), kept by bench/run.js -->'

/** { sqlite, postgres }: the text before the marker, and from the marker on ('' when none). */
function parts() {
  const text = existsSync(FILE) ? readFileSync(FILE, 'utf8') : ''
  const at = text.indexOf(MARKER)
  return at < 0 ? { sqlite: text, postgres: '' } : { sqlite: text.slice(0, at), postgres: text.slice(at) }
}

/** Replaces the SQLite part (`text` ends with a newline), keeping the PostgreSQL section. */
function writeSqlite(text) {
  const { postgres } = parts()
  writeFileSync(FILE, postgres ? `${text}\n${postgres}` : text)
}

/** Replaces the PostgreSQL section (`text` ends with a newline), keeping the SQLite part. */
function writePostgres(text) {
  const { sqlite } = parts()
  const before = sqlite.replace(/\n*$/, '\n\n')
  writeFileSync(FILE, `${before}${MARKER}\n\n${text}`)
}

module.exports = { writeSqlite, writePostgres }
