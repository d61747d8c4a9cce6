// The Kysely dialect and the Drizzle database through ESM imports, checked against the ESM copy
// of Kysely's and Drizzle's types (adapters.cts: the CommonJS copy, which TypeScript holds to be
// different classes).
import { Kysely, sql } from 'kysely'
import { eq, TransactionRollbackError } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { SQLiteConnectionPool } from 'swarm-persistence'
import { PoolDialect, type PoolDialectConfig } from 'swarm-persistence/kysely'
import { drizzle, type PoolDatabase, type PoolRunResult } from 'swarm-persistence/drizzle'

interface Database { person: { id: number; name: string } }
const people = sqliteTable('person', { id: integer('id').primaryKey(), name: text('name').notNull() })

export async function adapters(pool: SQLiteConnectionPool): Promise<number> {
  const config: PoolDialectConfig = { pool }
  const kysely = new Kysely<Database>({ dialect: new PoolDialect(config) })
  const inserted: { id: number }[] = await kysely.insertInto('person').values({ id: 1, name: 'Ada' }).returning('id').execute()
  const names: string[] = await kysely.transaction().execute(async (trx) =>
    (await trx.selectFrom('person').select('name').execute()).map((row) => row.name))
  const counted = await sql<{ n: number }>`select count(*) as n from person`.execute(kysely)
  for await (const row of kysely.selectFrom('person').selectAll().stream(10)) names.push(row.name)

  const db: PoolDatabase<{ people: typeof people }> = drizzle(pool, { schema: { people } })
  const run: PoolRunResult = await db.insert(people).values({ id: 2, name: 'Bo' }).run()
  const rowid: number | bigint = run.lastInsertRowid
  const found: { id: number; name: string }[] = await db.select().from(people).where(eq(people.id, 2))
  const viaQuery = await db.query.people.findFirst()
  const kept: number = await db.transaction(async (tx) => {
    await tx.update(people).set({ name: 'Cy' }).where(eq(people.id, 2))
    if (found.length > 5) tx.rollback()
    return run.changes
  })
  const [, all] = await db.batch([db.delete(people).where(eq(people.id, 1)), db.select().from(people)])
  const rolledBack: boolean = new TransactionRollbackError() instanceof Error
  return inserted.length + names.length + Number(counted.rows[0]?.n) + Number(rowid) + (viaQuery?.id ?? 0) + kept + all.length + Number(rolledBack)
}
