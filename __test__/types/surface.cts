// The package through CommonJS requires.
import swarm = require('swarm-persistence')
import mcp = require('swarm-persistence/mcp')
import events = require('swarm-persistence/events')
import { exercise } from './exercise'

export const run = (): Promise<number> => exercise(swarm, mcp, events)
