// A transport wrapper that knows which received JSON-RPC requests are still unanswered, so the
// server closes only once every call it read has its response written (stdin ending does not
// cancel calls already received), and writes those responses one at a time.
'use strict'

const isRequest = (message) => typeof message?.method === 'string' && message.id !== undefined
const isResponse = (message) => message?.id !== undefined && ('result' in message || 'error' in message)

/** Wraps an SDK transport; `drained()` resolves once no received request awaits its response. */
class InflightTransport {
  constructor(inner) {
    this.inner = inner
    // Counted per id: a client may (wrongly) reuse one before its first use is answered.
    this.open = new Map()
    this.waiters = []
    this.sending = Promise.resolve()
  }

  async start() {
    this.inner.onmessage = (message, extra) => {
      if (isRequest(message)) this.open.set(message.id, (this.open.get(message.id) ?? 0) + 1)
      // The SDK drops the response of a cancelled request, so it is answered by the cancellation.
      if (message?.method === 'notifications/cancelled') this.answered(message.params?.requestId)
      this.onmessage?.(message, extra)
    }
    this.inner.onerror = (error) => this.onerror?.(error)
    this.inner.onclose = () => this.onclose?.()
    return this.inner.start()
  }

  send(message, options) {
    // One write at a time: the stdio transport adds a 'drain' listener per write stdout refuses,
    // so a burst of answers would pile up listeners (and a MaxListenersExceededWarning).
    const sent = this.sending.then(() => this.inner.send(message, options))
    this.sending = sent.catch(() => {})
    return sent.finally(() => {
      if (isResponse(message)) this.answered(message.id)
    })
  }

  close() {
    return this.inner.close()
  }

  answered(id) {
    const count = this.open.get(id)
    if (count === undefined) return
    if (count > 1) this.open.set(id, count - 1)
    else this.open.delete(id)
    if (this.open.size === 0) for (const resolve of this.waiters.splice(0)) resolve()
  }

  /** Resolves once every request received so far has been answered (at once if none is open). */
  drained() {
    return this.open.size === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve))
  }
}

module.exports = { InflightTransport }
