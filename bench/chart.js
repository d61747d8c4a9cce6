// A plain SVG bar chart of throughput per workload and library, readable at a glance.
'use strict'

const { limitOf } = require('./raw')

const COLORS = { 'swarm-persistence': '#2b6cb0', 'better-sqlite3': '#dd6b20', 'node-sqlite3': '#718096' }
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** `raw` (raw.js), when given, draws each workload's no-JavaScript limit as a dashed line. */
function chart(workloads, results, machine, raw = undefined) {
  const rowH = 18
  const groupGap = 26
  const left = 150
  const width = 760
  const barMax = width - left - 170
  let y = 60
  const parts = []
  for (const w of workloads) {
    const r = results[w.key]
    const metric = (m) => (w.key === 'W4' ? m.reads_during_per_sec : m.ops_per_sec)
    const limit = raw && limitOf(w.key, raw)?.rate
    const max = Math.max(...Object.values(r).map(metric), limit ?? 0)
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(w.key)}</text>`)
    parts.push(`<text x="44" y="${y + 12}" font-size="11" fill="#444">${esc(w.key === 'W4' ? 'point reads/s during aggregates' : 'ops/s')}${limit ? esc(` · dashed: raw limit, no JavaScript (${Math.round(limit).toLocaleString('en')})`) : ''}</text>`)
    y += 18
    if (limit) {
      const x = left + (limit / max) * barMax
      const rows = Object.keys(r).length
      parts.push(`<line x1="${x.toFixed(1)}" y1="${y}" x2="${x.toFixed(1)}" y2="${y + rows * rowH}" stroke="#2f855a" stroke-width="2" stroke-dasharray="4 3"/>`)
    }
    for (const [name, m] of Object.entries(r)) {
      const v = metric(m)
      const len = Math.max(1, (v / max) * barMax)
      parts.push(`<text x="${left - 6}" y="${y + 13}" text-anchor="end" font-size="12">${esc(name)}</text>`)
      parts.push(`<rect x="${left}" y="${y + 2}" width="${len.toFixed(1)}" height="${rowH - 4}" fill="${COLORS[name] ?? '#999'}"/>`)
      parts.push(`<text x="${left + len + 6}" y="${y + 13}" font-size="12">${Math.round(v).toLocaleString('en')}</text>`)
      y += rowH
    }
    y += groupGap - rowH / 2
  }
  const height = y + 20
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="16" font-weight="bold">swarm-persistence vs better-sqlite3 vs node-sqlite3 (higher is better)</text>
<text x="10" y="42" font-size="11" fill="#444">${esc(machine)}</text>
${parts.join('\n')}
</svg>
`
}

module.exports = { chart }
