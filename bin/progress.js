// A one-line progress bar on stderr: redrawn in place on a terminal, a line every few seconds
// otherwise (logs, CI), nothing with --json.
'use strict'

class Progress {
  constructor(stream, quiet) {
    this.stream = stream
    this.quiet = quiet
    this.tty = Boolean(stream.isTTY)
    this.timer = null
  }
  start(totalMs, read) {
    if (this.quiet) return
    this.totalMs = totalMs
    this.read = read
    this.timer = setInterval(() => this.draw(false), this.tty ? 200 : 2000)
    // Progress is decoration: it must never be what keeps the process alive.
    this.timer.unref()
  }
  draw(final) {
    const { done, elapsed } = this.read()
    const frac = final ? 1 : Math.min(1, elapsed / this.totalMs)
    // 100% belongs to the final line alone, so a tick at the deadline cannot print it twice.
    if (!final && frac >= 1) return
    const width = 30
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '-')
    const rate = elapsed > 0 ? Math.round((done * 1000) / elapsed) : 0
    const text = `[${bar}] ${String(Math.round(frac * 100)).padStart(3)}%  ${done} ops  ${rate} ops/s`
    this.stream.write(this.tty ? `\r${text}${final ? '\n' : ''}` : `${text}\n`)
  }
  /** Stops the ticks; `final` draws the 100% line. Later calls do nothing. */
  stop(final = true) {
    if (!this.timer) return
    clearInterval(this.timer)
    this.timer = null
    if (final) this.draw(true)
    // An aborted bar on a terminal would otherwise share its line with the error message.
    else if (this.tty) this.stream.write('\n')
  }
}

module.exports = { Progress }
