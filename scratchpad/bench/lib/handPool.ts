/**
 * The floor of any JavaScript pool: an array of idle items and a FIFO queue of
 * waiting resolvers. No timeouts, no validation, no accounting beyond that.
 * A returned item goes straight to the oldest waiter, so service is strictly
 * first come, first served.
 */
export class HandPool<T> {
  private readonly idle: Array<T>
  private queue: Array<((item: T) => void) | undefined> = []
  private head = 0

  constructor(items: ReadonlyArray<T>) {
    this.idle = [...items]
  }

  acquire(): Promise<T> {
    const item = this.idle.pop()
    if (item !== undefined) return Promise.resolve(item)
    return new Promise<T>((resolve) => {
      this.queue.push(resolve)
    })
  }

  /** Callback flavour (for driving it from Effect fibers with `Effect.async`): `got` runs at once if an item is idle. */
  acquireWith(got: (item: T) => void): void {
    const item = this.idle.pop()
    if (item !== undefined) got(item)
    else this.queue.push(got)
  }

  release(item: T): void {
    if (this.head < this.queue.length) {
      const resolve = this.queue[this.head]!
      this.queue[this.head++] = undefined
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
      resolve(item)
    } else {
      this.idle.push(item)
    }
  }

  get idleCount(): number {
    return this.idle.length
  }

  get waiting(): number {
    return this.queue.length - this.head
  }
}
