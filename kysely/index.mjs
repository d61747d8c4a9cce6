// `import { PoolDialect } from 'swarm-persistence/kysely'`: the dialect over Kysely's ES module,
// the copy an ESM caller's `new Kysely(…)` comes from.
import * as kysely from 'kysely'
import dialect from './dialect.js'

export const PoolDialect = dialect.definePoolDialect(kysely)
