// `import … from 'swarm-persistence'`: the same classes as the CommonJS entry.
import entry from './index.js'

export const { SQLiteConnectionPool, SwarmPersistencePooled } = entry
export default entry
