// The package through ESM imports.
import * as swarm from 'swarm-persistence'
import * as mcp from 'swarm-persistence/mcp'
import * as events from 'swarm-persistence/events'
import { exercise } from './exercise.js'

export const run = (): Promise<number> => exercise(swarm, mcp, events)
