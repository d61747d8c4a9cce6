// A throwaway PostgreSQL cluster for tests: finds the server programs, creates a cluster in a fresh
// temp folder (trust authentication, loopback only, a free port, no fsync), starts it with a
// database `swarm_test`, and stops it and removes the folder again.
//
//   const { start, stop } = require('./pg-cluster')
//   const cluster = await start()  // { url, port, dir, log, ... }
//   ...
//   stop(cluster)                  // synchronous; also run for every live cluster at process exit
//
// bin/with-postgres.js runs `npm test` under one; a test may start its own. As root, initdb and
// pg_ctl run as the `postgres` user, since initdb refuses to run as root.
'use strict'
const { execFileSync } = require('node:child_process')
const { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const { join } = require('node:path')

const DATABASE = 'swarm_test'
const asRoot = process.getuid?.() === 0
/** Clusters started and not stopped yet, stopped at exit so none outlives its process. */
const live = new Set()
process.on('exit', () => { for (const cluster of live) stop(cluster) })
// A signal ends a process without 'exit' when nothing listens for it (a test runner ending its
// test processes with SIGTERM, say): then stop the clusters, and die of the signal as it would have.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, function onSignal() {
    if (process.listenerCount(signal) > 1) return // the process handles it, and 'exit' stops them
    for (const cluster of live) stop(cluster)
    process.removeListener(signal, onSignal)
    process.kill(process.pid, signal)
  })
}

/** The folder holding initdb and pg_ctl, or null when PostgreSQL's server is not installed. */
function findBinDir() {
  const hasServer = (dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))
  try {
    // pg_config may come with the client library alone (Debian's libpq-dev): it counts only when
    // the folder it names holds the server programs.
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    if (hasServer(dir)) return dir
  } catch {} // no pg_config on PATH
  // Debian and Ubuntu install each major version in /usr/lib/postgresql/<version>/bin.
  const root = '/usr/lib/postgresql'
  let versions = []
  try { versions = readdirSync(root) } catch {} // no such folder: not installed
  const newest = versions.filter((v) => hasServer(join(root, v, 'bin'))).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))[0]
  return newest ? join(root, newest, 'bin') : null
}

/** A TCP port free on loopback right now: the one the system picks for port 0. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * Runs a server program of `bindir` as the cluster's owner: `postgres` when we are root, else us.
 * It runs in the cluster's folder, as the working directory we were started in may be closed to
 * `postgres` (initdb fails when it cannot read it). A failure's error carries what it printed.
 */
function runAsOwner(cluster, program, args) {
  const file = join(cluster.bindir, program)
  const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]
  try {
    return execFileSync(command, argv, { cwd: cluster.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    throw new Error(`${program} failed: ${(e.stderr || e.stdout || e.message).trim()}`)
  }
}

/** `postgres`'s uid and gid, to hand it the folder when we are root. */
function postgresIds() {
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))
  try {
    return [id('-u'), id('-g')]
  } catch {
    throw new Error('running as root, but there is no `postgres` user to own the cluster (apt-get install postgresql creates it)')
  }
}

/** The end of the server's log, to explain a failed start. */
function logTail(cluster) {
  try { return readFileSync(cluster.log, 'utf8').trim().split('\n').slice(-10).join('\n') } catch { return '' }
}

/**
 * Creates and starts a cluster in a fresh folder under the system's temp folder. Resolves to
 * { url, port, dir, log, bindir, data }: `url` is postgres://postgres@127.0.0.1:<port>/swarm_test
 * (trust authentication, no password), `log` the server's log file.
 *
 * `options` shape the cluster before it starts (a TLS server, say): `files` ({ name: text }) are
 * written into its data folder readable by its owner alone, as PostgreSQL wants a private key;
 * `settings` are lines added to postgresql.conf; `hba`, when given, replaces pg_hba.conf.
 */
async function start({ files = {}, settings = [], hba } = {}) {
  const bindir = findBinDir()
  if (!bindir) throw new Error('PostgreSQL server programs not found (apt-get install postgresql)')
  const dir = mkdtempSync(join(os.tmpdir(), 'swarm-pg-'))
  const cluster = { url: null, port: null, dir, bindir, data: join(dir, 'data'), log: join(dir, 'server.log') }
  live.add(cluster) // from here on, an exit removes the folder whatever happens
  try {
    if (asRoot) chownSync(dir, ...postgresIds())
    // C locale and UTF8 whatever the environment's locale; no fsync of the new files either.
    runAsOwner(cluster, 'initdb', ['-D', cluster.data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
    // Settings for a disposable test server: reachable on loopback only (and by a socket in the
    // cluster's own folder, not the system's), durability traded for speed, room for many pools.
    // The port is given at start, so a start that lost its port can try another.
    appendFileSync(join(cluster.data, 'postgresql.conf'), [
      '',
      '# bin/pg-cluster.js: a throwaway cluster for tests',
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir.replace(/'/g, "''")}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 200',
      ...settings,
      '',
    ].join('\n'))
    for (const [name, text] of Object.entries(files)) {
      const file = join(cluster.data, name)
      writeFileSync(file, text, { mode: 0o600 })
      if (asRoot) chownSync(file, ...postgresIds())
    }
    if (hba !== undefined) writeFileSync(join(cluster.data, 'pg_hba.conf'), hba)
    // The free port may be taken by someone else before the server binds it: then try another.
    for (let attempt = 1; ; attempt++) {
      cluster.port = await freePort()
      try {
        runAsOwner(cluster, 'pg_ctl', ['start', '-w', '-t', '60', '-D', cluster.data, '-l', cluster.log, '-o', `-p ${cluster.port}`])
        break
      } catch (e) {
        const log = logTail(cluster)
        if (attempt < 3 && /could not bind|already in use/i.test(log)) continue
        throw new Error(`${e.message}\n${log}`)
      }
    }
    cluster.url = `postgres://postgres@127.0.0.1:${cluster.port}/${DATABASE}`
    // A client program: the server's folder has one on Debian and Homebrew, else take PATH's.
    const createdb = existsSync(join(bindir, 'createdb')) ? join(bindir, 'createdb') : 'createdb'
    execFileSync(createdb, ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', DATABASE], { stdio: ['ignore', 'pipe', 'pipe'] })
    return cluster
  } catch (e) {
    stop(cluster)
    throw new Error(`could not start a PostgreSQL cluster in ${dir}: ${e.message}`)
  }
}

/** Stops a cluster from start() and removes its folder. Synchronous; a second call does nothing. */
function stop(cluster) {
  if (!live.delete(cluster)) return
  try {
    if (existsSync(join(cluster.data, 'postmaster.pid'))) runAsOwner(cluster, 'pg_ctl', ['stop', '-m', 'fast', '-w', '-t', '30', '-D', cluster.data])
  } catch {
    // It did not stop in time: end it the hard way (SIGQUIT is PostgreSQL's immediate shutdown).
    try { process.kill(Number(readFileSync(join(cluster.data, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGQUIT') } catch {}
  }
  rmSync(cluster.dir, { recursive: true, force: true })
}

module.exports = { findBinDir, freePort, start, stop, DATABASE }
