// Bench-only entry point inside a relay process: `node --expose-gc --import ./bench/relay-probe.ts src/server.ts`
// with OBO_RELAY_BENCH_IPC=1 and an IPC channel. It answers the benchmark with the process's own CPU time and
// heap (after a full GC), and starts/stops a CPU profile, so no product endpoint ever exposes any of it.
// The relay's code is untouched: this module only listens on the IPC channel its parent opened.
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { PerformanceObserver } from 'node:perf_hooks'

if (process.env.OBO_RELAY_BENCH_IPC === '1' && process.send !== undefined) {
  let session: Session | undefined
  // Collections since the last `gc` request, by kind (bench --gc): count and pause.
  let gcByKind: Record<string, { count: number, ms: number }> = {}
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = String((entry as { detail?: { kind?: number } }).detail?.kind)
      const tally = (gcByKind[kind] ??= { count: 0, ms: 0 })
      tally.count++
      tally.ms += entry.duration
    }
  }).observe({ entryTypes: ['gc'] })
  const handlers: Record<string, (payload: any) => Promise<unknown> | unknown> = {
    cpu: () => process.cpuUsage(),
    gc: () => {
      const tally = gcByKind
      gcByKind = {}
      return tally
    },
    memory: () => {
      const gc = (globalThis as { gc?: () => void }).gc
      if (gc === undefined) throw new Error('start the relay with --expose-gc')
      gc()
      gc()
      return process.memoryUsage()
    },
    profileStart: async ({ heap = false, promotedOnly = false }: { heap?: boolean, promotedOnly?: boolean } = {}) => {
      session = new Session()
      session.connect()
      if (heap) {
        // Every allocation sampled, the ones a scavenge or a full GC collected before the stop included: what a
        // request allocates, not what it keeps. `promotedOnly`: those a scavenge collected left out, so what is
        // left outlived the young generation (what makes scavenges slow).
        await session.post('HeapProfiler.enable')
        await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !promotedOnly })
        return
      }
      await session.post('Profiler.enable')
      await session.post('Profiler.setSamplingInterval', { interval: 500 })
      await session.post('Profiler.start')
    },
    profileStop: async ({ path, heap = false }: { path: string, heap?: boolean }) => {
      if (session === undefined) throw new Error('no profile running')
      const { profile } = heap ? await session.post('HeapProfiler.stopSampling') : await session.post('Profiler.stop')
      session.disconnect()
      session = undefined
      await writeFile(path, JSON.stringify(profile))
      return path
    },
  }
  process.on('message', (message: { id?: number, type?: string, payload?: unknown }) => {
    if (message.id === undefined || message.type === undefined) return
    const handler = handlers[message.type]
    Promise.resolve().then(() => {
      if (handler === undefined) throw new Error(`unknown request "${message.type}"`)
      return handler(message.payload)
    }).then(
      (result) => process.send?.({ id: message.id, ok: true, result }),
      (err: unknown) => process.send?.({ id: message.id, ok: false, error: err instanceof Error ? err.message : String(err) }))
  })
  // The channel must not keep a stopping relay alive; a benchmark that is gone takes its relays with it.
  process.channel?.unref()
  process.once('disconnect', () => { process.kill(process.pid, 'SIGTERM') })
}
