import type { Server } from '@modelcontextprotocol/sdk/server/index.js'
import type { SwarmPersistencePooled } from '../index'

/** The JSON Schema of a tool's arguments: an object of named properties, no others allowed. */
export interface ToolInputSchema {
  type: 'object'
  properties: Record<string, { type?: string | string[]; description?: string; minLength?: number; maxLength?: number; minimum?: number; maximum?: number; default?: unknown }>
  required: string[]
  additionalProperties: false
}

/** An MCP CallToolResult: the payload as JSON text, or `{ error: { code, message } }` with `isError`. */
export interface ToolResult {
  content: Array<{ type: 'text'; text: string }>
  isError?: true
}

export interface McpTool {
  name: 'pool_health' | 'pool_stats' | 'persistence_stats' | 'swarm_list' | 'agent_get' | 'agent_list' | 'memory_get' | 'memory_store' | 'task_get' | 'events_recent'
  description: string
  inputSchema: ToolInputSchema
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean }
  /** Checks `args` against `inputSchema` and runs the tool; never rejects. */
  handler(args?: Record<string, unknown>): Promise<ToolResult>
}

/** The MCP tools over an initialized persistence layer. Throws INVALID_ARGUMENT for anything else. */
export function mcpTools(persistence: SwarmPersistencePooled): McpTool[]
/** An SDK server answering tools/list and tools/call from `tools`; connect it to any transport. */
export function createServer(tools: McpTool[]): Server
/** Runs `swarm-persistence mcp` with these command-line arguments: a stdio server until stdin ends. */
export function serve(argv: string[]): Promise<number | undefined>
