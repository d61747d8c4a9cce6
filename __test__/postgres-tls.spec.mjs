// TLS to PostgreSQL end to end, on a private cluster of this file's own: ssl on, with a server
// certificate for localhost and 127.0.0.1 signed by a CA made here with openssl, and a pg_hba.conf
// taking TCP connections with TLS only (the socket, for psql's checks, without). libpq's sslmode
// semantics are proven against it: disable refused by the server, require encrypted,
// verify-full with the right CA through the whole API, the wrong CA and a host name the
// certificate does not hold refused with INVALID_CONFIG saying which. prefer against a server
// without TLS is the rest of the PostgreSQL specs (their cluster has ssl off).
//
// Without PostgreSQL's server programs (or openssl) the tests skip saying so; under CI=true they fail.
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addon, rejectsWith, require } from './helpers.mjs'

const { SwarmPersistencePooled } = addon
const { findBinDir, start, stop } = require('../bin/pg-cluster.js')

/** Skips a test that needs PostgreSQL; under CI=true, which must run them all, fails it. */
function noPostgres(t, why) {
  if (process.env.CI === 'true') assert.fail(`CI=true and no PostgreSQL: ${why} (apt-get install postgresql)`)
  t.skip(`no PostgreSQL: ${why}`)
}

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Certificates and the cluster

/** A folder for the CAs and certificates, removed at exit. */
const certs = mkdtempSync(join(tmpdir(), 'swarm-pg-tls-'))
process.on('exit', () => rmSync(certs, { recursive: true, force: true }))

function openssl(...args) {
  execFileSync('openssl', args, { cwd: certs, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** A self-signed CA `name` (name.pem, name.key), P-256, valid two days. */
function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=swarm-persistence test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
}

/** The server's key and certificate, for localhost and 127.0.0.1, signed by the CA `ca`. */
function makeServerCertificate(ca) {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-keyout', 'server.key', '-out', 'server.csr')
  writeFileSync(join(certs, 'server.ext'), [
    'subjectAltName = DNS:localhost, IP:127.0.0.1',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    '',
  ].join('\n'))
  openssl('x509', '-req', '-in', 'server.csr', '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem')
}

let cluster = null

/** The TLS cluster, started on first use and stopped at exit; null (the test skipped) without PostgreSQL. */
async function tlsCluster(t) {
  if (!findBinDir()) return noPostgres(t, 'no initdb/pg_ctl found'), null
  if (!haveOpenssl()) return noPostgres(t, 'no openssl to make certificates with'), null
  if (cluster) return cluster
  makeCa('ca')
  makeCa('other-ca')
  makeServerCertificate('ca')
  cluster = await start({
    files: {
      'server.pem': readFileSync(join(certs, 'server.pem'), 'utf8'),
      'server.key': readFileSync(join(certs, 'server.key'), 'utf8'),
    },
    settings: ['ssl = on', "ssl_cert_file = 'server.pem'", "ssl_key_file = 'server.key'"],
    hba: [
      'local all all trust',
      'hostssl all all 127.0.0.1/32 trust',
      'hostnossl all all 127.0.0.1/32 reject',
      '',
    ].join('\n'),
  })
  return cluster
}
test.after(() => cluster && stop(cluster))

/** psql on the cluster's socket (no TLS there); its unaligned output. */
function psql(sql, database = 'swarm_test') {
  return execFileSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', cluster.dir, '-p', String(cluster.port),
    '-U', 'postgres', '-d', database, '-c', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

let serial = 0

/** A new database on the TLS cluster; its URL on `host` with the query `params`. */
function database(label, host = '127.0.0.1', params = '') {
  serial += 1
  const name = `sp_tls_${serial}_${label}`
  psql(`CREATE DATABASE ${name}`)
  return { name, url: `postgres://postgres@${host}:${cluster.port}/${name}${params ? `?${params}` : ''}` }
}

/** Whether each of our connections to `name` is encrypted, by connection: e.g. ['t', 't', 't']. */
function encrypted(name) {
  return psql(`SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
    WHERE a.datname = '${name}' AND a.application_name LIKE 'swarm-persistence%' ORDER BY s.pid`).split('\n').filter(Boolean)
}

/** Creates a swarm and an agent and reads the agent back. */
async function roundTrip(p) {
  await p.initialize()
  await p.createSwarm({ id: 's1', name: 'tls', topology: 'mesh', maxAgents: 4, strategy: 'balanced' })
  await p.createAgent({ id: 'a1', swarmId: 's1', name: 'agent one', type: 'worker', capabilities: ['tls'] })
  const agent = await p.getAgent('a1')
  assert.equal(agent?.name, 'agent one')
  assert.deepEqual(agent?.capabilities, ['tls'])
}

// ---------------------------------------------------------------------------------------------
// The tests

test('sslmode=disable is refused by a server that takes TCP connections with TLS only', async (t) => {
  if (!(await tlsCluster(t))) return
  const { url } = database('disable', '127.0.0.1', 'sslmode=disable')
  const p = new SwarmPersistencePooled(url, { pgPoolSize: 1 })
  await rejectsWith(p.initialize(), 'INVALID_CONFIG', /no encryption/)
  await p.close()
})

test('sslmode=require connects over TLS without checking the certificate, every connection encrypted', async (t) => {
  if (!(await tlsCluster(t))) return
  const { name, url } = database('require', '127.0.0.1', 'sslmode=require')
  const p = new SwarmPersistencePooled(url, { pgPoolSize: 2 })
  await roundTrip(p)
  // Reads on every reader, so each has connected.
  await Promise.all(Array.from({ length: 8 }, () => p.getAgent('a1')))
  const links = encrypted(name)
  assert.ok(links.length >= 2, `our connections: ${links}`)
  assert.deepEqual(links, links.map(() => 't'))
  await p.close()
})

test('prefer, the default, takes TLS when the server has it', async (t) => {
  if (!(await tlsCluster(t))) return
  const { name, url } = database('prefer')
  const p = new SwarmPersistencePooled(url, { pgPoolSize: 1 })
  await roundTrip(p)
  assert.deepEqual(encrypted(name).slice(0, 1), ['t'])
  await p.close()
})

test('verify-full with the CA as root certificate, on 127.0.0.1 and on localhost, runs the API', async (t) => {
  if (!(await tlsCluster(t))) return
  const ca = join(certs, 'ca.pem')
  // From the URL (the path percent-encoded, as a URL may carry it) ...
  const byIp = database('full_ip', '127.0.0.1', `sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`)
  const p = new SwarmPersistencePooled(byIp.url, { pgPoolSize: 1 })
  await roundTrip(p)
  assert.deepEqual(encrypted(byIp.name).slice(0, 1), ['t'])
  await p.close()
  // ... and from the options, over a URL that says less.
  const byName = database('full_name', 'localhost', 'sslmode=prefer')
  const q = new SwarmPersistencePooled(byName.url, { pgPoolSize: 1, pgSslMode: 'verify-full', pgSslRootCert: ca })
  await roundTrip(q)
  await q.close()
})

test('POOL_PG_SSL_MODE and POOL_PG_SSL_ROOT_CERT do what the options do', async (t) => {
  if (!(await tlsCluster(t))) return
  const { url } = database('env', 'localhost')
  process.env.POOL_PG_SSL_MODE = 'verify-full'
  process.env.POOL_PG_SSL_ROOT_CERT = join(certs, 'other-ca.pem')
  let p
  try { p = new SwarmPersistencePooled(url, { pgPoolSize: 1 }) } finally {
    delete process.env.POOL_PG_SSL_MODE
    delete process.env.POOL_PG_SSL_ROOT_CERT
  }
  await rejectsWith(p.initialize(), 'INVALID_CONFIG', /certificate not trusted/)
  await p.close()
})

test('verify-full with another CA as root certificate is refused: certificate not trusted', async (t) => {
  if (!(await tlsCluster(t))) return
  const other = join(certs, 'other-ca.pem')
  const { url } = database('wrong_ca', '127.0.0.1', `sslmode=verify-full&sslrootcert=${other}`)
  const p = new SwarmPersistencePooled(url, { pgPoolSize: 1 })
  await rejectsWith(p.initialize(), 'INVALID_CONFIG', new RegExp(`certificate not trusted: no root certificate in ${other} signed it`))
  await rejectsWith(p.getAgent('a1'), 'INVALID_CONFIG', /certificate not trusted/)
  await p.close()
  // require with a root certificate checks the chain as libpq does.
  const q = new SwarmPersistencePooled(url.replace('verify-full', 'require'), { pgPoolSize: 1 })
  await rejectsWith(q.initialize(), 'INVALID_CONFIG', /certificate not trusted/)
  await q.close()
})

test('verify-full for a host name the certificate does not hold is refused: host name mismatch; verify-ca takes it', async (t) => {
  if (!(await tlsCluster(t))) return
  const ca = join(certs, 'ca.pem')
  // hostaddr connects to the cluster while the name checked is the URL's host.
  const params = `hostaddr=127.0.0.1&sslrootcert=${ca}`
  const { url } = database('mismatch', 'swarm-db.invalid', `${params}&sslmode=verify-full`)
  const p = new SwarmPersistencePooled(url, { pgPoolSize: 1 })
  await rejectsWith(p.initialize(), 'INVALID_CONFIG',
    /host name mismatch: the certificate names .*localhost.* and not swarm-db\.invalid \(sslmode verify-full\)/)
  await p.close()
  const q = new SwarmPersistencePooled(url.replace('verify-full', 'verify-ca'), { pgPoolSize: 1 })
  await roundTrip(q)
  await q.close()
})

test('a root certificate file that is missing or not PEM is INVALID_CONFIG naming it', async (t) => {
  if (!(await tlsCluster(t))) return
  const { url } = database('bad_root', '127.0.0.1')
  const missing = new SwarmPersistencePooled(url, { pgSslMode: 'verify-ca', pgSslRootCert: join(certs, 'none.pem') })
  await rejectsWith(missing.initialize(), 'INVALID_CONFIG', /pgSslRootCert\/POOL_PG_SSL_ROOT_CERT: cannot read the root certificate/)
  await missing.close()
  const notPem = new SwarmPersistencePooled(`${url}?sslmode=verify-ca&sslrootcert=${join(certs, 'server.ext')}`)
  await rejectsWith(notPem.initialize(), 'INVALID_CONFIG', /POOL_DB_URL: .*holds no PEM certificate/)
  await notPem.close()
  // Options are read when the object is made; a bad value is reported by initialize and every call.
  const badMode = new SwarmPersistencePooled(url, { pgSslMode: 'verify' })
  await rejectsWith(badMode.initialize(), 'INVALID_CONFIG', /pgSslMode: "VERIFY" is not one of disable, prefer, require, verify-ca, verify-full/)
  await badMode.close()
})

test('require against a server without TLS is refused: the server does not offer TLS', async (t) => {
  const plain = process.env.POOL_TEST_PG_URL
  if (!plain) return noPostgres(t, 'POOL_TEST_PG_URL (a server without TLS) is not set')
  if (/\bssl=on\b/.test(execFileSync('psql', ['-X', '-At', '-c', 'SELECT \'ssl=\' || current_setting(\'ssl\')', plain], { encoding: 'utf8' }))) {
    return t.skip('the server at POOL_TEST_PG_URL has TLS on')
  }
  const u = new URL(plain)
  u.searchParams.set('sslmode', 'require')
  const p = new SwarmPersistencePooled(u.href, { pgPoolSize: 1 })
  await rejectsWith(p.initialize(), 'INVALID_CONFIG', /the server does not offer TLS \(sslmode require\)/)
  await p.close()
})
