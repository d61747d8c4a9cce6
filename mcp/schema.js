// A strict checker for the small JSON Schema subset the MCP tools declare: an object of named
// properties, each a string, integer or number (optionally nullable), or any JSON value, with required names and no extras.
// The SDK's low-level server does not validate tool arguments, so the handlers do it here.
'use strict'

function invalid(message) {
  return Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' })
}

const CHECKS = {
  string(value, spec, name) {
    if (typeof value !== 'string') throw invalid(`${name} must be a string`)
    if (spec.minLength !== undefined && value.length < spec.minLength) throw invalid(`${name} must not be empty`)
    if (spec.maxLength !== undefined && value.length > spec.maxLength) throw invalid(`${name} is longer than ${spec.maxLength} characters`)
    if (spec.enum && !spec.enum.includes(value)) throw invalid(`${name} must be one of ${spec.enum.join(', ')}`)
  },
  integer(value, spec, name) {
    if (!Number.isSafeInteger(value)) throw invalid(`${name} must be a whole number`)
    CHECKS.number(value, spec, name)
  },
  number(value, spec, name) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${name} must be a finite number`)
    if (spec.minimum !== undefined && value < spec.minimum) throw invalid(`${name} must be ≥ ${spec.minimum}`)
    if (spec.maximum !== undefined && value > spec.maximum) throw invalid(`${name} must be ≤ ${spec.maximum}`)
  },
}

/**
 * Returns `args` checked against `schema` (`undefined` counts as `{}`); throws an `Error` with code
 * `INVALID_ARGUMENT` naming the first bad field.
 */
function checkArguments(schema, args) {
  const input = args === undefined || args === null ? {} : args
  if (typeof input !== 'object' || Array.isArray(input)) throw invalid('arguments must be an object')
  for (const name of Object.keys(input)) {
    if (!Object.hasOwn(schema.properties, name)) throw invalid(`unknown argument ${name}`)
  }
  for (const name of schema.required ?? []) {
    if (input[name] === undefined) throw invalid(`${name} is required`)
  }
  for (const [name, spec] of Object.entries(schema.properties)) {
    const value = input[name]
    if (value === undefined) continue
    const types = [].concat(spec.type ?? [])
    // A property without a type accepts any JSON value (memory values).
    if (types.length === 0 || (value === null && types.includes('null'))) continue
    CHECKS[types.find((t) => t !== 'null')](value, spec, name)
  }
  return input
}

module.exports = { checkArguments }
