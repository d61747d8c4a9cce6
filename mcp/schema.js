// A strict checker for the JSON Schema subset the MCP tools declare for their arguments: an object
// of named properties (no others), each a string, integer, number, boolean, null, object or array
// (with `items`), or `anyOf` such schemas; `{}` accepts any JSON value.
// The SDK's low-level server does not validate tool arguments, so the handlers do it here.
'use strict'

function invalid(message) {
  return Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' })
}

// Form-based clients (the MCP Inspector among them) may send an integer field as its digits.
const DIGITS = /^-?\d+$/

/** Each check returns the value to use (an integer given as digits comes back as a number). */
const CHECKS = {
  string(value, spec, name) {
    if (typeof value !== 'string') throw invalid(`${name} must be a string`)
    if (spec.minLength !== undefined && value.length < spec.minLength) throw invalid(`${name} must not be empty`)
    if (spec.maxLength !== undefined && value.length > spec.maxLength) throw invalid(`${name} is longer than ${spec.maxLength} characters`)
    if (spec.enum && !spec.enum.includes(value)) throw invalid(`${name} must be one of ${spec.enum.join(', ')}`)
    return value
  },
  integer(value, spec, name) {
    const number = typeof value === 'string' && DIGITS.test(value) ? Number(value) : value
    if (!Number.isSafeInteger(number)) throw invalid(`${name} must be a whole number (a JSON integer, or a string of digits)`)
    return CHECKS.number(number, spec, name)
  },
  number(value, spec, name) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${name} must be a finite number`)
    if (spec.minimum !== undefined && value < spec.minimum) throw invalid(`${name} must be ≥ ${spec.minimum}`)
    if (spec.maximum !== undefined && value > spec.maximum) throw invalid(`${name} must be ≤ ${spec.maximum}`)
    return value
  },
  boolean(value, spec, name) {
    if (typeof value !== 'boolean') throw invalid(`${name} must be true or false`)
    return value
  },
  null(value, spec, name) {
    if (value !== null) throw invalid(`${name} must be null`)
    return value
  },
  object(value, spec, name) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${name} must be an object`)
    return value
  },
  array(value, spec, name) {
    if (!Array.isArray(value)) throw invalid(`${name} must be an array`)
    if (spec.maxItems !== undefined && value.length > spec.maxItems) throw invalid(`${name} has more than ${spec.maxItems} items`)
    return spec.items ? value.map((item, i) => checkValue(item, spec.items, `${name}[${i}]`)) : value
  },
}

/** `value` checked against `spec`; the first `anyOf` branch that accepts it wins. */
function checkValue(value, spec, name) {
  if (spec.anyOf) {
    const failures = []
    for (const branch of spec.anyOf) {
      try {
        return checkValue(value, branch, name)
      } catch (err) {
        if (branch.type !== 'null') failures.push(err)
      }
    }
    // A nullable value reports its one real type ("ttlSecs must be ≥ 1"); a wider union lists them.
    if (failures.length === 1) throw failures[0]
    throw invalid(`${name} must be ${spec.anyOf.map((b) => b.type ?? 'any value').join(' or ')}`)
  }
  // A schema without a type accepts any JSON value.
  return spec.type ? CHECKS[spec.type](value, spec, name) : value
}

/**
 * Returns `args` checked against `schema` (`undefined` counts as `{}`), with integers given as
 * digit strings turned into numbers; throws an `Error` with code `INVALID_ARGUMENT` naming the
 * first bad field.
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
  const checked = {}
  for (const [name, spec] of Object.entries(schema.properties)) {
    if (input[name] !== undefined) checked[name] = checkValue(input[name], spec, name)
  }
  return checked
}

module.exports = { checkArguments }
