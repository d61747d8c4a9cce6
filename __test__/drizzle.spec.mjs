// The Drizzle database (`swarm-persistence/drizzle`) against the real drizzle-orm: the adapter
// scenario (RETURNING, a join of tables with columns of the same names, update, delete,
// transactions that commit and roll back, 1,000 reads while a transaction is open, batches) and
// its refusals.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { asc, eq, relations, sql, DrizzleQueryError, TransactionRollbackError } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { drizzle } from 'swarm-persistence/drizzle'
import { addon, dbPath, rejectsWith, throwsWith } from './helpers.mjs'

const { SQLiteConnectionPool, SwarmPersistencePooled } = addon

const author = sqliteTable('author', {
  id: integer('id').primaryKey(),
  name: text('name').notNull().unique(),
})
const book = sqliteTable('book', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  authorId: integer('author_id').notNull().references(() => author.id),
})
const authorRelations = relations(author, ({ many }) => ({ books: many(book) }))
const bookRelations = relations(book, ({ one }) => ({ author: one(author, { fields: [book.authorId], references: [author.id] }) }))
const schema = { author, book, authorRelations, bookRelations }

/** A pool with two tables that share the column names `id` and `name`, and Drizzle over it. */
async function library() {
  const pool = new SQLiteConnectionPool(dbPath('drizzle'), { maxReaders: 2, maxWorkers: 1 })
  const db = drizzle(pool, { schema })
  await db.run(sql`create table author (id integer primary key, name text not null unique)`)
  await db.run(sql`create table book (id integer primary key, name text not null, author_id integer not null references author(id))`)
  return { pool, db }
}

const joined = (db) => db.select().from(book).innerJoin(author, eq(author.id, book.authorId)).orderBy(asc(book.id))

/** The error a failed statement rejects with: Drizzle wraps the pool's error as its cause. */
async function rejectsWithCause(promise, code, messagePart) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof DrizzleQueryError, `expected a DrizzleQueryError, got ${err}`)
    assert.equal(err.cause?.code, code, `${err.cause?.code}: ${err.cause?.message}`)
    if (messagePart) assert.match(err.cause.message, messagePart)
    return true
  })
}

test('insert … returning, a join of tables with the same column names, update and delete', async () => {
  const { pool, db } = await library()
  assert.deepEqual(await db.insert(author).values([{ name: 'Ada' }, { name: 'Grace' }]).returning(), [
    { id: 1, name: 'Ada' },
    { id: 2, name: 'Grace' },
  ])
  assert.deepEqual(
    await db.insert(book).values([
      { name: 'Notes', authorId: 1 },
      { name: 'Compilers', authorId: 2 },
      { name: 'Engines', authorId: 1 },
    ]).returning({ id: book.id, title: book.name }),
    [{ id: 1, title: 'Notes' }, { id: 2, title: 'Compilers' }, { id: 3, title: 'Engines' }],
  )
  const run = await db.insert(author).values({ name: 'Linus' }).run()
  assert.deepEqual(run, { rows: [], changes: 1, lastInsertRowid: 3 })
  assert.deepEqual(await db.insert(author).values({ name: 'Barbara' }).returning().get(), { id: 4, name: 'Barbara' })

  assert.deepEqual(await joined(db), [
    { book: { id: 1, name: 'Notes', authorId: 1 }, author: { id: 1, name: 'Ada' } },
    { book: { id: 2, name: 'Compilers', authorId: 2 }, author: { id: 2, name: 'Grace' } },
    { book: { id: 3, name: 'Engines', authorId: 1 }, author: { id: 1, name: 'Ada' } },
  ])
  assert.deepEqual(
    await db.select({ bookName: book.name, authorName: author.name }).from(book).innerJoin(author, eq(author.id, book.authorId)).where(eq(book.id, 2)).get(),
    { bookName: 'Compilers', authorName: 'Grace' },
  )
  assert.deepEqual(await db.select().from(book).innerJoin(author, eq(author.id, book.authorId)).where(eq(book.id, 9)).get(), undefined)
  assert.deepEqual(await db.select({ id: author.id, name: author.name }).from(author).where(eq(author.id, 2)).values(), [[2, 'Grace']])
  assert.deepEqual(await db.query.author.findMany({ with: { books: { orderBy: [asc(book.id)] } }, where: eq(author.id, 1) }), [
    { id: 1, name: 'Ada', books: [{ id: 1, name: 'Notes', authorId: 1 }, { id: 3, name: 'Engines', authorId: 1 }] },
  ])

  assert.deepEqual(await db.update(book).set({ name: 'Sketch of the Engine' }).where(eq(book.id, 3)).run(), { rows: [], changes: 1, lastInsertRowid: 4 })
  assert.deepEqual(await db.update(author).set({ name: 'Grace Hopper' }).where(eq(author.id, 2)).returning(), [{ id: 2, name: 'Grace Hopper' }])
  assert.deepEqual(await db.delete(book).where(eq(book.id, 1)).returning({ id: book.id }), [{ id: 1 }])
  assert.equal((await db.delete(author).where(eq(author.id, 4)).run()).changes, 1)
  assert.deepEqual(await joined(db), [
    { book: { id: 2, name: 'Compilers', authorId: 2 }, author: { id: 2, name: 'Grace Hopper' } },
    { book: { id: 3, name: 'Sketch of the Engine', authorId: 1 }, author: { id: 1, name: 'Ada' } },
  ])
  await pool.close()
})

test('selects go to the readers, writes and RETURNING to the writer', async () => {
  const { pool, db } = await library()
  await db.insert(author).values({ name: 'Ada' })
  const before = pool.getStats()
  await db.select().from(author)
  await db.select().from(author).get()
  await db.query.author.findFirst()
  const afterReads = pool.getStats()
  assert.equal(afterReads.totalReads - before.totalReads, 3)
  assert.equal(afterReads.totalWrites, before.totalWrites)
  await db.insert(author).values({ name: 'Grace' }).returning()
  await db.all(sql`with n(name) as (values ('Linus')) insert into author (name) select name from n returning id`)
  assert.equal(pool.getStats().totalWrites - afterReads.totalWrites, 2)
  assert.deepEqual(await db.select({ name: author.name }).from(author).orderBy(asc(author.id)), [{ name: 'Ada' }, { name: 'Grace' }, { name: 'Linus' }])
  await pool.close()
})

test('a transaction commits, and sees its own writes before it does', async () => {
  const { pool, db } = await library()
  const seen = await db.transaction(async (tx) => {
    const [{ id }] = await tx.insert(author).values({ name: 'Ada' }).returning({ id: author.id })
    await tx.insert(book).values({ name: 'Notes', authorId: id })
    return joined(tx)
  })
  const expected = [{ book: { id: 1, name: 'Notes', authorId: 1 }, author: { id: 1, name: 'Ada' } }]
  assert.deepEqual(seen, expected)
  assert.deepEqual(await joined(db), expected)
  await pool.close()
})

test('concurrent transactions run one after another: 20 read-modify-write increments all land', async () => {
  const { pool, db } = await library()
  await db.insert(author).values({ id: 1, name: '0' })
  await Promise.all(Array.from({ length: 20 }, () =>
    db.transaction(async (tx) => {
      const { name } = await tx.select({ name: author.name }).from(author).where(eq(author.id, 1)).get()
      await tx.update(author).set({ name: String(Number(name) + 1) }).where(eq(author.id, 1))
    })))
  assert.deepEqual(await db.select().from(author), [{ id: 1, name: '20' }])
  await pool.close()
})

test('a transaction rolled back (tx.rollback(), a throw, a failing statement) leaves nothing visible', async () => {
  const { pool, db } = await library()
  await db.insert(author).values({ name: 'Ada' })
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.insert(author).values({ name: 'Grace' })
      await tx.update(author).set({ name: 'Ada Lovelace' }).where(eq(author.id, 1))
      assert.equal((await tx.select().from(author)).length, 2)
      tx.rollback()
    }),
    (err) => err instanceof TransactionRollbackError,
  )
  const failure = new Error('changed my mind')
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.insert(author).values({ name: 'Grace' })
      throw failure
    }),
    (err) => err === failure,
  )
  await rejectsWithCause(
    db.transaction(async (tx) => {
      await tx.insert(author).values({ name: 'Grace' })
      await tx.insert(author).values({ name: 'Ada' })
    }),
    'SQLITE_CONSTRAINT_UNIQUE',
  )
  assert.deepEqual(await db.select().from(author), [{ id: 1, name: 'Ada' }])
  await pool.close()
})

test('1,000 selects while a transaction is open all complete, before it commits, without its writes', async () => {
  const { pool, db } = await library()
  await db.insert(author).values([{ name: 'Ada' }, { name: 'Grace' }])
  let commitStarted = false
  const committed = db.transaction(async (tx) => {
    await tx.insert(author).values({ name: 'Uncommitted' })
    const reads = Array.from({ length: 1000 }, (_, i) =>
      db.select().from(author).where(eq(author.id, (i % 2) + 1)).then((rows) => {
        assert.equal(commitStarted, false)
        return rows
      }))
    let timer
    const blocked = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the reads did not finish while the transaction was open')), 20_000)
    })
    const results = await Promise.race([Promise.all(reads), blocked])
    clearTimeout(timer)
    assert.deepEqual(await db.select({ name: author.name }).from(author).orderBy(asc(author.id)), [{ name: 'Ada' }, { name: 'Grace' }])
    commitStarted = true
    return results
  })
  const results = await committed
  assert.equal(results.length, 1000)
  results.forEach((rows, i) => assert.deepEqual(rows, [i % 2 ? { id: 2, name: 'Grace' } : { id: 1, name: 'Ada' }]))
  assert.deepEqual(await db.select({ name: author.name }).from(author).orderBy(asc(author.id)), [
    { name: 'Ada' }, { name: 'Grace' }, { name: 'Uncommitted' },
  ])
  await pool.close()
})

test('batch() commits all of its statements or none', async () => {
  const { pool, db } = await library()
  const [inserted, all, first] = await db.batch([
    db.insert(author).values([{ name: 'Ada' }, { name: 'Grace' }]).returning(),
    db.select().from(author).orderBy(asc(author.id)),
    db.query.author.findFirst({ columns: { name: true }, where: eq(author.id, 2) }),
  ])
  assert.deepEqual(inserted, [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }])
  assert.deepEqual(all, [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }])
  assert.deepEqual(first, { name: 'Grace' })
  await rejectsWith(
    db.batch([db.insert(author).values({ name: 'Linus' }), db.insert(author).values({ name: 'Ada' })]),
    'SQLITE_CONSTRAINT_UNIQUE',
  )
  assert.deepEqual(await db.select().from(author).orderBy(asc(author.id)), [{ id: 1, name: 'Ada' }, { id: 2, name: 'Grace' }])
  await pool.close()
})

test('a SwarmPersistencePooled pool works as the database pool', async () => {
  const persistence = new SwarmPersistencePooled(dbPath('drizzle-persistence'), { maxReaders: 1, maxWorkers: 1 })
  throwsWith(() => drizzle(persistence.pool), 'INVALID_ARGUMENT', /initialize\(\)/)
  await persistence.initialize()
  await persistence.createSwarm({ id: 's1', name: 'research', topology: 'mesh', maxAgents: 4 })
  const swarms = sqliteTable('swarms', { id: text('id').primaryKey(), name: text('name'), topology: text('topology') })
  const db = drizzle(persistence.pool)
  assert.deepEqual(await db.select().from(swarms), [{ id: 's1', name: 'research', topology: 'mesh' }])
  await persistence.close()
})

test('bad usage: a missing pool, nested transactions, writes through the database inside its transaction', async () => {
  throwsWith(() => drizzle(), 'INVALID_ARGUMENT', /drizzle\(pool\) must be a SQLiteConnectionPool/)
  throwsWith(() => drizzle({ read() {} }), 'INVALID_ARGUMENT')
  const { pool, db } = await library()
  await rejectsWith(
    db.transaction(async (tx) => {
      await tx.insert(author).values({ name: 'Ada' })
      await tx.transaction(async () => {})
    }),
    'NESTED_TRANSACTION',
    /nested transactions \(savepoints\) are not supported/,
  )
  await rejectsWith(db.transaction(async () => db.transaction(async () => {})), 'NESTED_TRANSACTION', /a transaction begun inside a transaction/)
  await rejectsWithCause(
    db.transaction(async () => db.insert(author).values({ name: 'Grace' })),
    'NESTED_TRANSACTION',
    /a write through the database inside a transaction/,
  )
  await rejectsWith(db.transaction(async () => db.batch([db.insert(author).values({ name: 'Grace' })])), 'NESTED_TRANSACTION')
  // After the transaction, work it scheduled may write again.
  let later
  await db.transaction(async () => {
    later = new Promise((resolve) => setImmediate(resolve)).then(() => db.insert(author).values({ name: 'Linus' }).returning())
  })
  assert.deepEqual(await later, [{ id: 1, name: 'Linus' }])
  await rejectsWithCause(db.run(sql`begin`), 'INVALID_ARGUMENT', /managed by the pool/)
  await pool.close()
  await rejectsWithCause(db.select().from(author), 'POOL_CLOSED')
})
