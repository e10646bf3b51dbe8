// Coalesces concurrent work for one key: the first caller runs it, the others share its result.
// Callers store the result (in a cache) inside `work`, before the promise settles and the key is
// released, so a caller arriving just after sees the cached value rather than starting again.

export class SingleFlight<T> {
  readonly #inFlight = new Map<string, Promise<T>>()

  /** True when this call joined work already running. */
  has (key: string): boolean {
    return this.#inFlight.has(key)
  }

  async run (key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#inFlight.get(key)
    if (running !== undefined) return await running
    const started = work().finally(() => { if (this.#inFlight.get(key) === started) this.#inFlight.delete(key) })
    this.#inFlight.set(key, started)
    return await started
  }

  get size (): number {
    return this.#inFlight.size
  }
}
