// `import { mcpTools } from 'swarm-persistence/mcp'`: the CommonJS module's exports.
import entry from './index.js'

export const { mcpTools, createServer, serve } = entry
export default entry
