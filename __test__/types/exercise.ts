// The whole public surface, type-checked with tsc --strict through each way of importing it
// (surface.mts for ESM, surface.cts for CommonJS).
import type {
  PoolStats, PoolHealthPayload, BackupResult, Transaction, WriteResult, RawResult, RawWriteResult, ColumnInfo, RawRow, CallOptions, IterateOptions, Row,
  ExecResult,
} from 'swarm-persistence'

interface Agent { id: string; name: string }

/** Uses every part of the package once; `swarm`, `mcp` and `events` are its three entry points. */
export async function exercise(
  swarm: typeof import('swarm-persistence'),
  mcp: typeof import('swarm-persistence/mcp'),
  events: typeof import('swarm-persistence/events'),
): Promise<number> {
  const pool = new swarm.SQLiteConnectionPool(':memory:', { maxReaders: 2, walLimit: 4 * 1024 * 1024 })
  pool.once('ready', () => {})
  pool.on('health-check', (check) => console.log(check.stats.totalReads))
  pool.on('read-error', (err) => console.log(err.code))
  const written: WriteResult = await pool.write('CREATE TABLE a(id TEXT, name TEXT)')
  const rowid: number | bigint = written.lastInsertRowid
  const agents: Agent[] = await pool.read<Agent>('SELECT id, name FROM a WHERE id = ?', ['x'])
  const one: Agent | null = await pool.get<Agent>('SELECT id, name FROM a')
  const returned: WriteResult<Agent> = await pool.write<Agent>('INSERT INTO a VALUES (?, ?) RETURNING id, name', ['r', 's'], {})
  const returnedAgents: Agent[] = returned.rows ?? []
  const rawRead: RawResult = await pool.read('SELECT a.id, b.id FROM a JOIN a AS b', [], { raw: true })
  const firstColumn: ColumnInfo | undefined = rawRead.columns[0]
  const origin: string | null = firstColumn?.table ?? null
  const rawFirst: RawRow | undefined = (await pool.get('SELECT id FROM a', undefined, { raw: true })).rows[0]
  const heavy: RawResult = await pool.executeInWorker('SELECT count(*) FROM a', [], { raw: true })
  const rawWrite: RawWriteResult = await pool.write('DELETE FROM a WHERE id = ? RETURNING *', ['r'], { raw: true })
  const plainAgain: Agent[] = await pool.read<Agent>('SELECT id, name FROM a', [], { raw: false })
  const maybe: CallOptions = { raw: rawWrite.changes > 0 }
  const either: Agent[] | RawResult = await pool.read<Agent>('SELECT id, name FROM a', [], maybe)
  const rawBatch: RawWriteResult[] = await pool.transaction(['INSERT INTO a VALUES (1, 2) RETURNING id'], { raw: true })
  const n = await pool.transaction(async (tx: Transaction) => {
    await tx.write('INSERT INTO a VALUES (?, ?)', ['x', 'y'])
    const inserted: WriteResult<Agent> = await tx.write<Agent>('INSERT INTO a VALUES (?, ?) RETURNING *', ['t', 'u'])
    const rawInserted: RawWriteResult = await tx.write('INSERT INTO a VALUES (?, ?) RETURNING *', ['v', 'w'], { raw: true })
    const rawAll: RawResult = await tx.read('SELECT * FROM a', [], { raw: true })
    const rawOne: RawResult = await tx.get('SELECT * FROM a', [], { raw: true })
    const agentsInside: Agent[] = await tx.read<Agent>('SELECT * FROM a', undefined, {})
    const counted = (await tx.get<{ n: number }>('SELECT count(*) AS n FROM a'))?.n ?? 0
    return counted + (inserted.rows?.length ?? 0) + (rawInserted.rows?.length ?? 0) + rawAll.rows.length + rawOne.rows.length + agentsInside.length
  })
  const results: WriteResult[] = await pool.transaction(['DELETE FROM a'])
  const iterateOptions: IterateOptions = { batchSize: 100 }
  let streamed = 0
  for await (const agent of pool.iterate<Agent>('SELECT id, name FROM a WHERE id > ?', [''], iterateOptions)) {
    streamed += agent.name.length
  }
  const rows: AsyncIterableIterator<Row> = pool.iterate('SELECT 1 AS one')
  await rows.return?.()
  const stats: PoolStats = pool.getStats()
  const health: PoolHealthPayload = pool.poolHealth()
  const text: string = pool.metrics()
  const copy: BackupResult = await pool.backup('/tmp/never-used.db')
  const options = { signal: AbortSignal.timeout(1000) }
  const typed: CallOptions = { signal: new AbortController().signal, raw: false }
  const some: Agent[] = await pool.read<Agent>('SELECT id, name FROM a', undefined, options)
  const first: Agent | null = await pool.get<Agent>('SELECT id, name FROM a WHERE id = ?', ['x'], { signal: new AbortController().signal })
  const heavyRows: Agent[] = await pool.executeInWorker<Agent>('SELECT id, name FROM a', [], options)
  await pool.write('DELETE FROM a', [], options)
  await pool.transaction(['DELETE FROM a'], options)
  const migrated: ExecResult = await pool.exec('CREATE TABLE b(x); INSERT INTO b VALUES (1)', typed)
  const mode = await pool.pragma<{ journal_mode: string }>('journal_mode')
  const version = await pool.pragma<{ user_version: number }>('user_version', 2, options)
  await pool.pragma('application_id', 7n)
  const rawPragma: RawResult = await pool.pragma('table_list', undefined, { raw: true })
  await pool.close()
  {
    await using scoped = new swarm.SQLiteConnectionPool(':memory:')
    await scoped.exec('CREATE TABLE s(x)')
  }
  await pool[Symbol.asyncDispose]() // after close() too: closing twice is harmless
  const persistence = new swarm.SwarmPersistencePooled(null, { maxWorkers: 1 })
  await persistence.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 2 })
  const tools = mcp.mcpTools(persistence)
  const watcher = events.watch(persistence, { interval: 100 })
  watcher.on('wal', (wal) => console.log(wal.over_limit))
  watcher.stop()
  await persistence.close()
  {
    await using scoped = new swarm.SwarmPersistencePooled(null)
    await scoped.getActiveSwarms()
  }
  const rawCount = rawRead.rows.length + (rawFirst?.length ?? 0) + heavy.columns.length + rawBatch.length + (origin ? 1 : 0)
  const shapes = returnedAgents.length + plainAgain.length + (Array.isArray(either) ? either.length : either.rows.length)
  return rawCount + shapes + n + streamed + agents.length + (one ? 1 : 0) + results.length + stats.readQueueLength + (health.healthy ? 1 : 0) + text.length + copy.pages + tools.length + Number(rowid) +
    some.length + (first ? 1 : 0) + heavyRows.length + migrated.changes + rawPragma.rows.length + mode.length + (version[0]?.user_version ?? 0)
}

/** Calls the types refuse (type-checked, never run). */
export function refused(pool: import('swarm-persistence').SQLiteConnectionPool): void {
  // @ts-expect-error a PRAGMA value is an integer, never SQL text
  void pool.pragma('user_version', '1; DROP TABLE a')
  // @ts-expect-error options.signal is an AbortSignal
  void pool.read('SELECT 1', [], { signal: 5 })
  // @ts-expect-error exec takes no parameters: its options come second
  void pool.exec('SELECT 1', [], {})
  // @ts-expect-error statements inside transaction(fn) take no signal
  void pool.transaction((tx) => tx.write('SELECT 1', [], { signal: new AbortController().signal }))
}
