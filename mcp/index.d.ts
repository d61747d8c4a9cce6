import type { SwarmPersistencePooled } from '../index'

/**
 * The JSON Schema subset the tools declare: one `type` per schema at most (nullable values are
 * `anyOf: [schema, { type: 'null' }]`), `{}`-like schemas without a type accept any JSON value.
 */
export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null'
  anyOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: false
  items?: JsonSchema
  description?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  default?: unknown
}

/** The JSON Schema of a tool's arguments: an object of named properties, no others allowed. */
export interface ToolInputSchema extends JsonSchema {
  type: 'object'
  properties: Record<string, JsonSchema>
  required: string[]
  additionalProperties: false
}

/** The JSON Schema of a tool's `structuredContent`: always an object (lists travel under one key). */
export interface ToolOutputSchema extends JsonSchema {
  type: 'object'
  properties: Record<string, JsonSchema>
  required: string[]
}

/**
 * An MCP CallToolResult. Success: `structuredContent` (valid against the tool's `outputSchema`)
 * and the same JSON as text. Failure: `isError` and the text `{ "error": { "code", "message" } }`
 * only, since clients check any structuredContent against the outputSchema.
 */
export type ToolResult =
  | { content: Array<{ type: 'text'; text: string }>; structuredContent: Record<string, unknown>; isError?: undefined }
  | { content: Array<{ type: 'text'; text: string }>; isError: true; structuredContent?: undefined }

export type McpToolName =
  | 'pool_health' | 'pool_stats' | 'persistence_stats' | 'swarm_list'
  | 'agent_create' | 'agent_get' | 'agent_list' | 'agent_update_status'
  | 'memory_get' | 'memory_list' | 'memory_store' | 'memory_delete'
  | 'task_create' | 'task_get' | 'task_list' | 'task_update'
  | 'metric_record' | 'metrics_get' | 'event_log' | 'events_recent'

export interface McpTool {
  name: McpToolName
  title: string
  description: string
  inputSchema: ToolInputSchema
  outputSchema: ToolOutputSchema
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean }
  /** Checks `args` against `inputSchema` (integers may come as digit strings) and runs the tool; never rejects. */
  handler(args?: Record<string, unknown>): Promise<ToolResult>
}

/**
 * The SDK's `Server` (from `@modelcontextprotocol/sdk/server/index.js`), typed here by the part
 * this package uses so that the SDK, an optional peer dependency, is not needed to compile.
 */
export interface SdkServer {
  connect(transport: unknown): Promise<void>
  close(): Promise<void>
}

/** The MCP tools over an initialized persistence layer. Throws INVALID_ARGUMENT for anything else. Needs no SDK. */
export function mcpTools(persistence: SwarmPersistencePooled): McpTool[]
/** An SDK server answering tools/list and tools/call from `tools`; connect it to any transport. Throws MCP_SDK_MISSING without the SDK. */
export function createServer(tools: McpTool[]): SdkServer
/** Runs `swarm-persistence mcp` with these command-line arguments: a stdio server until stdin ends. */
export function serve(argv: string[]): Promise<number | undefined>
