/**
 * First-come-first-served line of waiters: an intrusive doubly linked list,
 * so joining, leaving from anywhere (a timed-out or interrupted caller) and
 * taking the oldest are all O(1) and allocate nothing. (A `Set` used as a
 * queue leaves deleted slots at its head that every "oldest" lookup has to
 * skip until it is rehashed.)
 */
export interface Queued {
  /** @internal */
  prev: Queued | undefined
  /** @internal */
  next: Queued | undefined
  /** @internal */
  queued: boolean
}

export class WaiterQueue<W extends Queued> {
  private head: W | undefined = undefined
  private tail: W | undefined = undefined
  size = 0

  push(waiter: W): void {
    waiter.prev = this.tail
    waiter.next = undefined
    waiter.queued = true
    if (this.tail === undefined) this.head = waiter
    else this.tail.next = waiter
    this.tail = waiter
    this.size++
  }

  /** The oldest waiter, still in line. */
  peek(): W | undefined {
    return this.head
  }

  /** Take `waiter` out of the line; false if it was not in it. */
  remove(waiter: W): boolean {
    if (!waiter.queued) return false
    if (waiter.prev === undefined) this.head = waiter.next as W | undefined
    else waiter.prev.next = waiter.next
    if (waiter.next === undefined) this.tail = waiter.prev as W | undefined
    else waiter.next.prev = waiter.prev
    waiter.prev = undefined
    waiter.next = undefined
    waiter.queued = false
    this.size--
    return true
  }

  /** Empty the line, returning everyone in it, oldest first. */
  drain(): Array<W> {
    const all: Array<W> = []
    for (let waiter = this.head; waiter !== undefined; waiter = this.head) {
      this.remove(waiter)
      all.push(waiter)
    }
    return all
  }
}
