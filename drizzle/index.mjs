// `import { drizzle } from 'swarm-persistence/drizzle'`: the database over drizzle-orm's ES
// modules, the copies an ESM caller's schema and errors come from.
import * as proxy from 'drizzle-orm/sqlite-proxy'
import * as core from 'drizzle-orm/sqlite-core'
import * as orm from 'drizzle-orm'
import database from './database.js'

export const drizzle = database.defineDrizzle(proxy, core, orm)
