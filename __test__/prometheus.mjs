// A strict parser for the Prometheus text exposition format (0.0.4), for the metrics() specs.
// It throws on anything a Prometheus server would reject or that breaks the format's rules:
// malformed lines, samples before their # TYPE, families split apart, duplicate series,
// counters that are negative, histograms whose buckets are not cumulative or lack +Inf.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(text, where) {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`)
  return Number(text)
}

function parseLabels(text, where) {
  const labels = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf('=', i)
    if (eq < 0) throw new Error(`${where}: label without =`)
    const name = text.slice(i, eq)
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name ${name}`)
    if (Object.hasOwn(labels, name)) throw new Error(`${where}: label ${name} twice`)
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`)
    let j = eq + 2
    let value = ''
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j]
        if (next === 'n') value += '\n'
        else if (next === '\\' || next === '"') value += next
        else throw new Error(`${where}: bad escape \\${next}`)
      } else value += text[j]
    }
    if (text[j] !== '"') throw new Error(`${where}: unterminated label value`)
    labels[name] = value
    i = j + 1
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`${where}: expected , between labels`)
      i += 1
    }
  }
  return labels
}

/** The family a sample name belongs to, given the declared types. */
function familyOf(name, types) {
  if (types.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length)
    if (name.endsWith(suffix) && types.get(base) === 'histogram') return base
  }
  return null
}

/** Parses `text`; returns Map(family → { type, help, samples: [{ name, labels, value }] }). */
export function parsePrometheus(text) {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline')
  const families = new Map()
  const types = new Map()
  const finished = new Set()
  const seen = new Set()
  let current = null
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1}`
    if (line === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (!m) return // other comments are allowed
      const [, kind, name, rest] = m
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`)
      if (finished.has(name)) throw new Error(`${where}: family ${name} appears twice`)
      if (current !== name && current !== null) finished.add(current)
      current = name
      const family = families.get(name) ?? { type: 'untyped', help: null, samples: [] }
      families.set(name, family)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: bad type ${rest}`)
        if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`)
        if (family.samples.length) throw new Error(`${where}: TYPE after samples of ${name}`)
        types.set(name, rest)
        family.type = rest
      } else {
        if (family.help !== null) throw new Error(`${where}: second HELP for ${name}`)
        family.help = rest
      }
      return
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line)
    if (!m) throw new Error(`${where}: malformed sample ${JSON.stringify(line)}`)
    const [, name, labelText, valueText] = m
    const familyName = familyOf(name, types)
    if (familyName === null) throw new Error(`${where}: sample ${name} before its # TYPE`)
    if (familyName !== current) throw new Error(`${where}: sample of ${familyName} outside its family's block`)
    const labels = parseLabels(labelText ?? '', where)
    const key = `${name}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`
    if (seen.has(key)) throw new Error(`${where}: duplicate series ${key}`)
    seen.add(key)
    const value = parseValue(valueText, where)
    const family = families.get(familyName)
    if (family.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`)
    if (family.type === 'counter' && !name.endsWith('_total')) throw new Error(`${where}: counter ${name} lacks _total`)
    family.samples.push({ name, labels, value })
  })
  for (const [name, family] of families) if (family.type === 'histogram') checkHistogram(name, family)
  return families
}

function checkHistogram(name, family) {
  const series = new Map()
  for (const s of family.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const entry = series.get(key) ?? { buckets: [], sum: null, count: null }
    series.set(key, entry)
    if (s.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}: bucket without le`)
      entry.buckets.push([parseValue(le, name), s.value])
    } else if (s.name === `${name}_sum`) entry.sum = s.value
    else if (s.name === `${name}_count`) entry.count = s.value
    else throw new Error(`${name}: unexpected sample ${s.name}`)
  }
  for (const [key, { buckets, sum, count }] of series) {
    if (sum === null || count === null) throw new Error(`${name}${key}: _sum or _count missing`)
    if (!buckets.length || buckets.at(-1)[0] !== Infinity) throw new Error(`${name}${key}: no +Inf bucket`)
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i][0] > buckets[i - 1][0])) throw new Error(`${name}${key}: le not increasing`)
      if (buckets[i][1] < buckets[i - 1][1]) throw new Error(`${name}${key}: buckets not cumulative`)
    }
    if (buckets.at(-1)[1] !== count) throw new Error(`${name}${key}: +Inf bucket ${buckets.at(-1)[1]} ≠ count ${count}`)
  }
}
