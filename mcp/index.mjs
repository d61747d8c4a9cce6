// `import { mcpTools } from 'swarm-persistence/mcp'`: the CommonJS module's exports.
// Required, not imported: on Node 20 a CommonJS module that throws while an ES module imports it
// (NATIVE_BINDING_MISSING) ends the process even when `await import(...)` catches the error.
import { createRequire } from 'node:module'

const entry = createRequire(import.meta.url)('./index.js')

export const { mcpTools, createServer, serve } = entry
export default entry
