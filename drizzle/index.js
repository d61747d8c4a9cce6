// `require('swarm-persistence/drizzle')`: a Drizzle database over a SQLiteConnectionPool, with
// drizzle-orm (an optional peer dependency) loaded through `require`.
'use strict'
const { requirePeer } = require('../lib/peer')
const { defineDrizzle } = require('./database')

const entry = 'swarm-persistence/drizzle'
module.exports = {
  drizzle: defineDrizzle(
    requirePeer('drizzle-orm/sqlite-proxy', entry),
    requirePeer('drizzle-orm/sqlite-core', entry),
    requirePeer('drizzle-orm', entry),
  ),
}
