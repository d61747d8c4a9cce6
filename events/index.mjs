// `import { watch } from 'swarm-persistence/events'`: the CommonJS module's exports.
import entry from './index.js'

export const { watch, PoolWatcher } = entry
export default entry
