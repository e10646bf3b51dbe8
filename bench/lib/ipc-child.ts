// The child's side of bench/lib/children.ts: answer requests by id, say when ready, and leave with the parent
// (a closed IPC channel means the benchmark is gone, whatever killed it).
export type Handlers = Record<string, (payload: any) => unknown>

export function serveIpc (handlers: Handlers, onDisconnect: () => void | Promise<void> = () => {}): void {
  if (process.send === undefined) throw new Error('this bench process must be started with an IPC channel (bench/lib/children.ts)')
  process.on('message', (message: { id?: number, type?: string, payload?: unknown }) => {
    if (message.id === undefined || message.type === undefined) return
    const handler = handlers[message.type]
    const answer = (reply: { ok: boolean, result?: unknown, error?: string }): void => { process.send?.({ id: message.id, ...reply }) }
    if (handler === undefined) {
      answer({ ok: false, error: `unknown request "${message.type}"` })
      return
    }
    Promise.resolve().then(() => handler(message.payload)).then(
      (result) => answer({ ok: true, result }),
      (err: unknown) => answer({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }))
  })
  process.once('disconnect', () => {
    Promise.resolve(onDisconnect()).finally(() => process.exit(0))
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => { Promise.resolve(onDisconnect()).finally(() => process.exit(0)) })
  }
}

export function ready (info: Record<string, unknown> = {}): void {
  process.send?.({ type: 'ready', info })
}
