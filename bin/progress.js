// A one-line progress bar on stderr: redrawn in place on a terminal, a line every few seconds
// otherwise (logs, CI), nothing with --json.
'use strict'

class Progress {
  constructor(stream, quiet) {
    this.stream = stream
    this.quiet = quiet
    this.tty = Boolean(stream.isTTY)
  }
  start(totalMs, read) {
    if (this.quiet) return
    this.totalMs = totalMs
    this.read = read
    this.timer = setInterval(() => this.draw(false), this.tty ? 200 : 2000)
  }
  draw(final) {
    const { done, elapsed } = this.read()
    const frac = Math.min(1, elapsed / this.totalMs)
    const width = 30
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '-')
    const rate = elapsed > 0 ? Math.round((done * 1000) / elapsed) : 0
    const text = `[${bar}] ${String(Math.round(frac * 100)).padStart(3)}%  ${done} ops  ${rate} ops/s`
    this.stream.write(this.tty ? `\r${text}${final ? '\n' : ''}` : `${text}\n`)
  }
  stop() {
    if (this.quiet) return
    clearInterval(this.timer)
    this.draw(true)
  }
}

module.exports = { Progress }
