// The Kysely dialect (`swarm-persistence/kysely`) against the real Kysely: the adapter scenario
// (RETURNING, a join of tables with columns of the same names, update, delete, transactions that
// commit and roll back, 1,000 reads while a transaction is open, streaming) and its refusals.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Kysely, Migrator, sql } from 'kysely'
import { PoolDialect } from 'swarm-persistence/kysely'
import { addon, dbPath, rejectsWith, throwsWith } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon

/** A pool with two tables that share the column names `id` and `name`, and Kysely over it. */
async function library() {
  const pool = new SQLiteConnectionPool(dbPath('kysely'), { maxReaders: 2, maxWorkers: 1 })
  const db = new Kysely({ dialect: new PoolDialect({ pool }) })
  await db.schema.createTable('author')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .execute()
  await db.schema.createTable('book')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('author_id', 'integer', (c) => c.notNull().references('author.id'))
    .execute()
  return { pool, db }
}

const authorsAndBooks = (db) =>
  db.selectFrom('book')
    .innerJoin('author', 'author.id', 'book.author_id')
    .select(['author.id as authorId', 'author.name as authorName', 'book.id as bookId', 'book.name as bookName'])
    .orderBy('book.id')

test('insert … returning, a join of tables with the same column names, update and delete', async () => {
  const { pool, db } = await library()
  const authors = await db.insertInto('author').values([{ name: 'Ada' }, { name: 'Grace' }]).returning(['id', 'name']).execute()
  assert.deepEqual(authors, [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }])
  const books = await db.insertInto('book')
    .values([{ name: 'Notes', author_id: 1 }, { name: 'Compilers', author_id: 2 }, { name: 'Engines', author_id: 1 }])
    .returning(['id', 'name', 'author_id'])
    .execute()
  assert.deepEqual(books, [
    { id: 1, name: 'Notes', author_id: 1 },
    { id: 2, name: 'Compilers', author_id: 2 },
    { id: 3, name: 'Engines', author_id: 1 },
  ])
  const plain = await db.insertInto('author').values({ name: 'Linus' }).executeTakeFirstOrThrow()
  assert.equal(plain.insertId, 3n)
  assert.equal(plain.numInsertedOrUpdatedRows, 1n)

  assert.deepEqual(await authorsAndBooks(db).execute(), [
    { authorId: 1, authorName: 'Ada', bookId: 1, bookName: 'Notes' },
    { authorId: 2, authorName: 'Grace', bookId: 2, bookName: 'Compilers' },
    { authorId: 1, authorName: 'Ada', bookId: 3, bookName: 'Engines' },
  ])

  const updated = await db.updateTable('book').set({ name: 'Sketch of the Engine' }).where('id', '=', 3).executeTakeFirstOrThrow()
  assert.equal(updated.numUpdatedRows, 1n)
  const renamed = await db.updateTable('author').set({ name: 'Grace Hopper' }).where('id', '=', 2).returning(['id', 'name']).execute()
  assert.deepEqual(renamed, [{ id: 2, name: 'Grace Hopper' }])
  const deleted = await db.deleteFrom('book').where('id', '=', 1).executeTakeFirstOrThrow()
  assert.equal(deleted.numDeletedRows, 1n)
  assert.deepEqual(await authorsAndBooks(db).execute(), [
    { authorId: 2, authorName: 'Grace Hopper', bookId: 2, bookName: 'Compilers' },
    { authorId: 1, authorName: 'Ada', bookId: 3, bookName: 'Sketch of the Engine' },
  ])
  assert.deepEqual(await db.selectFrom('author').select('name').where('id', '=', 3).executeTakeFirst(), { name: 'Linus' })
  await pool.close()
})

test('selects go to the readers and everything else to the writer; raw SQL by what SQLite says it does', async () => {
  const { pool, db } = await library()
  await db.insertInto('author').values({ name: 'Ada' }).execute()
  const before = pool.getStats()
  await db.selectFrom('author').selectAll().execute()
  await sql`select count(*) as n from author`.execute(db)
  const counted = await sql`with a as (select name from author) select count(*) as n from a`.execute(db)
  assert.deepEqual(counted.rows, [{ n: 1 }])
  const afterReads = pool.getStats()
  assert.equal(afterReads.totalReads - before.totalReads, 3)
  assert.equal(afterReads.totalWrites, before.totalWrites)

  // A WITH that writes is refused by a reader before it runs, and runs on the writer.
  const inserted = await sql`with n(name) as (values ('Grace')) insert into author (name) select name from n returning id, name`.execute(db)
  assert.deepEqual(inserted.rows, [{ id: 2, name: 'Grace' }])
  assert.equal(inserted.numAffectedRows, 1n)
  await sql`pragma user_version = 7`.execute(db)
  assert.deepEqual((await sql`pragma user_version`.execute(db)).rows, [{ user_version: 7 }])
  assert.deepEqual(await db.selectFrom('author').select('name').orderBy('id').execute(), [{ name: 'Ada' }, { name: 'Grace' }])
  assert.equal(pool.getStats().totalWrites - afterReads.totalWrites, 2)
  await pool.close()
})

test('a transaction commits, and sees its own writes before it does', async () => {
  const { pool, db } = await library()
  const seen = await db.transaction().execute(async (trx) => {
    const [author] = await trx.insertInto('author').values({ name: 'Ada' }).returning('id').execute()
    await trx.insertInto('book').values({ name: 'Notes', author_id: author.id }).execute()
    return authorsAndBooks(trx).execute()
  })
  assert.deepEqual(seen, [{ authorId: 1, authorName: 'Ada', bookId: 1, bookName: 'Notes' }])
  assert.deepEqual(await authorsAndBooks(db).execute(), seen)
  await pool.close()
})

test('concurrent transactions run one after another: 20 read-modify-write increments all land', async () => {
  const { pool, db } = await library()
  await db.insertInto('author').values({ id: 1, name: '0' }).execute()
  await Promise.all(Array.from({ length: 20 }, () =>
    db.transaction().execute(async (trx) => {
      const { name } = await trx.selectFrom('author').select('name').where('id', '=', 1).executeTakeFirstOrThrow()
      await trx.updateTable('author').set({ name: String(Number(name) + 1) }).where('id', '=', 1).execute()
    })))
  assert.deepEqual(await db.selectFrom('author').selectAll().execute(), [{ id: 1, name: '20' }])
  await pool.close()
})

test('a transaction that throws rolls back: nothing of it is visible, and the error is its own', async () => {
  const { pool, db } = await library()
  await db.insertInto('author').values({ name: 'Ada' }).execute()
  const failure = new Error('changed my mind')
  await assert.rejects(
    db.transaction().execute(async (trx) => {
      await trx.insertInto('author').values({ name: 'Grace' }).execute()
      await trx.updateTable('author').set({ name: 'Ada Lovelace' }).where('id', '=', 1).execute()
      assert.equal((await trx.selectFrom('author').selectAll().execute()).length, 2)
      throw failure
    }),
    (err) => err === failure,
  )
  // A failing statement rolls back the statements before it too.
  await rejectsWith(
    db.transaction().execute(async (trx) => {
      await trx.insertInto('author').values({ name: 'Grace' }).execute()
      await trx.insertInto('author').values({ name: 'Ada' }).execute()
    }),
    'SQLITE_CONSTRAINT_UNIQUE',
  )
  const controlled = await db.startTransaction().execute()
  await controlled.insertInto('author').values({ name: 'Linus' }).execute()
  await controlled.rollback().execute()
  assert.equal(controlled.isRolledBack, true)
  assert.deepEqual(await db.selectFrom('author').selectAll().execute(), [{ id: 1, name: 'Ada' }])
  await pool.close()
})

test('1,000 selects while a transaction is open all complete, before it commits, without its writes', async () => {
  const { pool, db } = await library()
  await db.insertInto('author').values([{ name: 'Ada' }, { name: 'Grace' }]).execute()
  const trx = await db.startTransaction().execute()
  await trx.insertInto('author').values({ name: 'Uncommitted' }).execute()
  const reads = Array.from({ length: 1000 }, (_, i) =>
    db.selectFrom('author').select(['id', 'name']).where('id', '=', (i % 2) + 1).execute())
  let timer
  const blocked = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the reads did not finish while the transaction was open')), 20_000)
  })
  const results = await Promise.race([Promise.all(reads), blocked])
  clearTimeout(timer)
  assert.equal(trx.isCommitted, false)
  assert.equal(results.length, 1000)
  results.forEach((rows, i) => assert.deepEqual(rows, [i % 2 ? { id: 2, name: 'Grace' } : { id: 1, name: 'Ada' }]))
  assert.deepEqual(await db.selectFrom('author').select('name').orderBy('id').execute(), [{ name: 'Ada' }, { name: 'Grace' }])
  await trx.commit().execute()
  assert.deepEqual(await db.selectFrom('author').select('name').orderBy('id').execute(), [
    { name: 'Ada' }, { name: 'Grace' }, { name: 'Uncommitted' },
  ])
  await pool.close()
})

test('stream() yields the rows a plain select returns, in chunks, outside and inside a transaction', async () => {
  const { pool, db } = await library()
  const names = Array.from({ length: 250 }, (_, i) => ({ name: `author ${String(i).padStart(3, '0')}` }))
  await db.insertInto('author').values(names).execute()
  const query = db.selectFrom('author').select(['id', 'name']).orderBy('id')
  const expected = names.map((row, i) => ({ id: i + 1, name: row.name }))
  assert.deepEqual(await query.execute(), expected)
  const batchSizes = []
  const iterate = pool.iterate
  pool.iterate = function (sql, params, options) {
    batchSizes.push(options.batchSize)
    return iterate.call(this, sql, params, options)
  }
  const streamed = []
  for await (const row of query.stream(100)) streamed.push(row)
  assert.deepEqual(streamed, expected)
  const early = []
  for await (const row of query.stream(7)) {
    early.push(row)
    if (early.length === 10) break
  }
  assert.deepEqual(early, expected.slice(0, 10))
  assert.deepEqual(batchSizes, [100, 7], 'each stream reads through pool.iterate, chunkSize rows at a time')
  const inside = await db.transaction().execute(async (trx) => {
    await trx.insertInto('author').values({ name: 'last' }).execute()
    const rows = []
    for await (const row of trx.selectFrom('author').select(['id', 'name']).orderBy('id').stream(100)) rows.push(row)
    return rows
  })
  assert.deepEqual(inside, [...expected, { id: 251, name: 'last' }])
  await pool.close()
})

test('a SwarmPersistencePooled pool works as the dialect pool', async () => {
  const persistence = new SwarmPersistencePooled(dbPath('kysely-persistence'), { maxReaders: 1, maxWorkers: 1 })
  throwsWith(() => new PoolDialect({ pool: persistence.pool }), 'INVALID_ARGUMENT', /initialize\(\)/)
  await persistence.initialize()
  await persistence.createSwarm({ id: 's1', name: 'research', topology: 'mesh', maxAgents: 4 })
  const db = new Kysely({ dialect: new PoolDialect({ pool: persistence.pool }) })
  assert.deepEqual(await db.selectFrom('swarms').select(['id', 'name', 'topology']).execute(), [{ id: 's1', name: 'research', topology: 'mesh' }])
  await db.destroy()
  assert.equal((await persistence.getActiveSwarms()).length, 1, 'destroy() leaves the pool open')
  await persistence.close()
})

test('bad usage: a missing pool, savepoints, nested transactions, streaming a write', async () => {
  throwsWith(() => new PoolDialect({}), 'INVALID_ARGUMENT', /config\.pool must be a SQLiteConnectionPool/)
  throwsWith(() => new PoolDialect(), 'INVALID_ARGUMENT')
  const { pool, db } = await library()
  const trx = await db.startTransaction().execute()
  await rejectsWith(trx.savepoint('before').execute(), 'SAVEPOINT_UNSUPPORTED', /savepoints are not supported/)
  await trx.insertInto('author').values({ name: 'Ada' }).execute()
  await trx.commit().execute()
  await assert.rejects(
    db.transaction().execute(async (inner) => inner.transaction().execute(async () => {})),
    /calling the transaction method for a Transaction is not supported/,
  )
  await rejectsWith(
    (async () => {
      for await (const row of db.insertInto('author').values({ name: 'Grace' }).returning('id').stream()) assert.fail(row)
    })(),
    'INVALID_ARGUMENT',
    /only SELECT queries can be streamed/,
  )
  await rejectsWith(db.insertInto('author').values({ name: 'Ada' }).execute(), 'SQLITE_CONSTRAINT_UNIQUE')
  assert.deepEqual(await db.selectFrom('author').selectAll().execute(), [{ id: 1, name: 'Ada' }])
  await pool.close()
  await rejectsWith(db.selectFrom('author').selectAll().execute(), 'POOL_CLOSED')
})

test('Kysely introspection reads the schema through the readers', async () => {
  const { pool, db } = await library()
  const tables = await db.introspection.getTables()
  assert.deepEqual(tables.map((t) => [t.name, t.columns.map((c) => [c.name, c.dataType, c.isNullable])]), [
    ['author', [['id', 'INTEGER', true], ['name', 'TEXT', false]]],
    ['book', [['id', 'INTEGER', true], ['name', 'TEXT', false], ['author_id', 'INTEGER', false]]],
  ])
  await pool.close()
})

test("Kysely's Migrator migrates once, and again only what is new", async () => {
  const pool = new SQLiteConnectionPool(dbPath('kysely-migrations'), { maxReaders: 1, maxWorkers: 1 })
  const db = new Kysely({ dialect: new PoolDialect({ pool }) })
  const migrations = {
    '001': { up: (db) => db.schema.createTable('pet').addColumn('id', 'integer', (c) => c.primaryKey()).execute() },
    '002': { up: (db) => db.schema.alterTable('pet').addColumn('name', 'text').execute() },
  }
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const statuses = async () => (await migrator.migrateToLatest()).results.map((r) => [r.migrationName, r.status])
  assert.deepEqual(await statuses(), [['001', 'Success'], ['002', 'Success']])
  assert.deepEqual(await statuses(), [])
  migrations['003'] = { up: (db) => db.schema.createIndex('pet_name').on('pet').column('name').execute() }
  assert.deepEqual(await statuses(), [['003', 'Success']])
  const tables = await db.introspection.getTables()
  assert.deepEqual(tables.map((t) => [t.name, t.columns.map((c) => c.name)]), [['pet', ['id', 'name']]])
  assert.deepEqual(await db.selectFrom('kysely_migration').select('name').orderBy('name').execute(), [{ name: '001' }, { name: '002' }, { name: '003' }])
  await pool.close()
})
