// `import … from 'swarm-persistence'`: the same classes as the CommonJS entry.
// Required, not imported: on Node 20 a CommonJS module that throws while an ES module imports it
// (NATIVE_BINDING_MISSING) ends the process even when `await import(...)` catches the error.
import { createRequire } from 'node:module'

const entry = createRequire(import.meta.url)('./index.js')

export const { SQLiteConnectionPool, SwarmPersistencePooled, copyToPostgres } = entry
export default entry
