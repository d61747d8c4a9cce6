// `require('swarm-persistence/kysely')`: a Kysely dialect over a SQLiteConnectionPool, with
// Kysely (an optional peer dependency) loaded through `require`.
'use strict'
const { requirePeer } = require('../lib/peer')
const { definePoolDialect } = require('./dialect')

module.exports = { PoolDialect: definePoolDialect(requirePeer('kysely', 'swarm-persistence/kysely')) }
