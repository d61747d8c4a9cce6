// The whole public surface, type-checked with tsc --strict through each way of importing it
// (surface.mts for ESM, surface.cts for CommonJS).
import type { PoolStats, PoolHealthPayload, BackupResult, Transaction, WriteResult } from 'swarm-persistence'

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
  const n = await pool.transaction(async (tx: Transaction) => {
    await tx.write('INSERT INTO a VALUES (?, ?)', ['x', 'y'])
    return (await tx.get<{ n: number }>('SELECT count(*) AS n FROM a'))?.n ?? 0
  })
  const results: WriteResult[] = await pool.transaction(['DELETE FROM a'])
  const stats: PoolStats = pool.getStats()
  const health: PoolHealthPayload = pool.poolHealth()
  const text: string = pool.metrics()
  const copy: BackupResult = await pool.backup('/tmp/never-used.db')
  await pool.close()
  const persistence = new swarm.SwarmPersistencePooled(null, { maxWorkers: 1 })
  await persistence.createSwarm({ id: 's', name: 'n', topology: 'mesh', maxAgents: 2 })
  const tools = mcp.mcpTools(persistence)
  const watcher = events.watch(persistence, { interval: 100 })
  watcher.on('wal', (wal) => console.log(wal.over_limit))
  watcher.stop()
  await persistence.close()
  return n + agents.length + (one ? 1 : 0) + results.length + stats.readQueueLength + (health.healthy ? 1 : 0) + text.length + copy.pages + tools.length + Number(rowid)
}
