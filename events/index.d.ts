import type { EventEmitter } from 'node:events'
import type { BackupResult, PoolHealthPayload, SQLiteConnectionPool, SwarmPersistencePooled, WalStatus } from '../index'

export interface PoolWatcherEvents {
  health: [PoolHealthPayload]
  unhealthy: [PoolHealthPayload]
  recovered: [PoolHealthPayload]
  wal: [WalStatus]
  backup: [BackupResult]
  backupError: [string | null]
  close: []
}

/** Emits pool events from an unref'd timer; never keeps the process alive. */
export declare class PoolWatcher extends EventEmitter<PoolWatcherEvents> {
  stop(): void
}

/** Watches a pool every `interval` ms (default 1000). Throws INVALID_ARGUMENT for anything else. */
export function watch(target: SQLiteConnectionPool | SwarmPersistencePooled, options?: { interval?: number }): PoolWatcher
