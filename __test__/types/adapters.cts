// The adapters through CommonJS requires, checked against the CommonJS copy of Kysely's and
// Drizzle's types (a PoolDialect typed against the ESM copy would not fit this Kysely).
import kysely = require('kysely')
import orm = require('drizzle-orm')
import core = require('drizzle-orm/sqlite-core')
import swarm = require('swarm-persistence')
import kyselyAdapter = require('swarm-persistence/kysely')
import drizzleAdapter = require('swarm-persistence/drizzle')

interface Database { person: { id: number; name: string } }
const people = core.sqliteTable('person', { id: core.integer('id').primaryKey(), name: core.text('name').notNull() })

export async function adapters(pool: swarm.SQLiteConnectionPool): Promise<number> {
  const db = new kysely.Kysely<Database>({ dialect: new kyselyAdapter.PoolDialect({ pool }) })
  const names: string[] = (await db.selectFrom('person').select('name').execute()).map((row) => row.name)
  const drizzled: drizzleAdapter.PoolDatabase<{ people: typeof people }> = drizzleAdapter.drizzle(pool, { schema: { people } })
  const found: { id: number; name: string }[] = await drizzled.select().from(people).where(orm.eq(people.id, 2))
  const changes: number = await drizzled.transaction(async (tx) => (await tx.delete(people).run()).changes)
  return names.length + found.length + changes
}
