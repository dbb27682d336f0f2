/**
 * The total cap of a keyed pool: one capacity its sub-pools (one core engine
 * per key) consult before every open, and the fairness across keys.
 *
 * - A slot is one unit of some sub-pool's `size`: taken just before an open
 *   starts, given back when the open fails or the connection is destroyed
 *   (the engine calls `take` and `give`; see the engine's invariants). A
 *   sub-pool in backoff asks for none, so a failing key never holds capacity
 *   others wait for.
 * - A sub-pool that finds no free slot is queued here. When a slot frees, it
 *   goes to the queued sub-pool whose oldest uncovered waiter arrived first
 *   (`Engine.oldestUncovered`, by the family's arrival numbers): first come,
 *   first served across keys. Sub-pools that only refill `minSize` come after
 *   every waiter. A connection that comes back while a caller of another
 *   key has waited longer than every caller of its own key is closed for
 *   that caller (`wanted`): a key whose callers keep asking cannot keep the
 *   capacity from a key that asked first.
 * - A waiter that finds no free slot evicts the best idle connection of
 *   another key (nearest to its lifetime or idle deadline, else the longest
 *   idle; never a borrowed one or one under a check): its slot goes, through
 *   the same queue, to the oldest waiter.
 *
 * Cost: nothing while slots are free; with the cap reached, choosing who gets
 * a freed slot, and telling whether anyone waits on the cap when a connection
 * comes back, look at the queued sub-pools only (at most one per key that
 * has a caller waiting), and an eviction looks at the idle connections
 * (at most `totalMaxSize`).
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { Engine, EngineGroup, Entry, GroupObservation } from "../../core/internal/engine.js"
import { PoolClosedError } from "../../core/PoolError.js"

type AnyEngine = Engine<any, any, any>

/** What the capacity needs of the keyed pool around it. */
export interface Members {
  /** Fork a background fiber of the pool's scope. */
  readonly run: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>
  readonly now: () => number
  /** `engine` may have become empty: the keyed pool may drop it. */
  readonly settled: (engine: AnyEngine) => void
}

export class Capacity implements EngineGroup {
  /** Slots held: the sum of the sub-pools' sizes. */
  used = 0
  arrivals = 0
  /** Sub-pools that wanted a slot and found none, in the order they asked. */
  readonly queued = new Set<AnyEngine>()
  /** Every live sub-pool (where eviction looks for an idle victim). */
  readonly engines = new Set<AnyEngine>()
  private dispatching = false
  readonly closedError = new PoolClosedError()

  constructor(
    readonly name: string,
    /** 0 = no cap. */
    readonly max: number,
    public observation: GroupObservation,
    private readonly members: Members
  ) {}

  private free(): boolean {
    return this.max === 0 || this.used < this.max
  }

  readonly take = (engine: AnyEngine, forWaiter: boolean): boolean => {
    if (this.free()) {
      this.used++
      return true
    }
    this.queued.add(engine)
    // Each eviction's slot goes to the oldest waiter on the cap; evict on
    // while this sub-pool is still left waiting, no slot is free (inside a
    // hand-out, the freed one is handed out when this returns) and there is
    // an idle victim.
    if (forWaiter) {
      while (!this.free() && this.queued.has(engine) && engine.oldestUncovered() !== undefined && this.evictFor(engine));
    }
    return false
  }

  readonly give = (_engine: AnyEngine): void => {
    this.used--
    this.dispatch()
  }

  readonly wanted = (engine: AnyEngine, before: number | undefined): boolean => {
    if (this.queued.size === 0) return false
    for (const other of this.queued) {
      if (other === engine) continue
      const seq = other.oldestUncovered()
      if (seq !== undefined && (before === undefined || seq < before) && canOpen(other)) return true
    }
    return false
  }

  readonly settled = (engine: AnyEngine): void => {
    this.members.settled(engine)
  }

  /** A dropped or closed sub-pool asks for nothing any more. */
  forget(engine: AnyEngine): void {
    this.engines.delete(engine)
    this.queued.delete(engine)
    this.timed.delete(engine)
  }

  // ------------------------------------------------------------ timeouts

  /** Sub-pools with callers waiting, and the one timer that times them out. */
  private readonly timed = new Set<AnyEngine>()
  private timer: Fiber.RuntimeFiber<void> | undefined = undefined
  /** When the timer wakes next (Infinity: not running). */
  private timerAt = Infinity

  readonly watchTimeouts = (engine: AnyEngine): void => {
    this.timed.add(engine)
    const deadline = engine.waiters.peek()?.deadline ?? this.members.now()
    // Callers of one acquireTimeout join in deadline order: the timer needs
    // restarting only for a sooner deadline (a key with a shorter timeout).
    if (deadline >= this.timerAt) return
    const previous = this.timer
    this.timerAt = deadline
    this.timer = this.members.run(Effect.suspend(() => this.sleepUntil(deadline)))
    if (previous !== undefined) this.members.run(Fiber.interrupt(previous))
  }

  private sleepUntil(deadline: number): Effect.Effect<void> {
    return Effect.zipRight(Effect.sleep(Math.max(0, deadline - this.members.now())), this.expire)
  }

  private readonly expire: Effect.Effect<void> = Effect.suspend(() => {
    const now = this.members.now()
    let next = Infinity
    for (const engine of [...this.timed]) {
      const deadline = engine.expireWaiters(now)
      if (deadline === undefined) this.timed.delete(engine)
      else if (deadline < next) next = deadline
    }
    this.timerAt = next
    if (next === Infinity) {
      this.timer = undefined
      return Effect.void
    }
    return this.sleepUntil(next)
  })

  /**
   * Hand free slots to the queued sub-pools, oldest waiter first. Re-entrant
   * calls (a sub-pool's open that fails at once, an eviction) only free the
   * slot: the loop that is already running hands it on.
   */
  private dispatch(): void {
    if (this.dispatching) return
    this.dispatching = true
    try {
      while (this.free() && this.queued.size > 0) {
        const next = this.oldest()
        this.queued.delete(next)
        // Takes a slot if it still wants one (it queues again if it wants more than there is).
        next.growth.fill()
      }
    } finally {
      this.dispatching = false
    }
  }

  /** The queued sub-pool whose oldest uncovered waiter came first; one that only refills `minSize` comes last. */
  private oldest(): AnyEngine {
    let best: AnyEngine | undefined
    let bestSeq = Infinity
    for (const engine of this.queued) {
      const seq = engine.oldestUncovered() ?? Infinity
      if (best === undefined || seq < bestSeq) {
        best = engine
        bestSeq = seq
      }
    }
    return best!
  }

  /** Close the best idle connection of another key (false: none); its slot goes to the oldest waiter on the cap. */
  private evictFor(engine: AnyEngine): boolean {
    let victim: Entry<unknown> | undefined
    let owner: AnyEngine | undefined
    let victimDeadline = Infinity
    for (const other of this.engines) {
      if (other === engine || other.closed || other.idle.length === 0) continue
      const { idleTimeout } = other.options
      for (const entry of other.idle) {
        const deadline = Math.min(entry.expiresAt, idleTimeout > 0 ? entry.idleSince + idleTimeout : Infinity)
        if (
          victim === undefined || deadline < victimDeadline ||
          (deadline === victimDeadline && entry.idleSince < victim.idleSince)
        ) {
          victim = entry
          owner = other
          victimDeadline = deadline
        }
      }
    }
    if (victim === undefined || owner === undefined) return false
    owner.removeIdle(victim)
    owner.destroy(victim, "evicted")
    return true
  }
}

/** Could open for a caller now: below its own cap, not backing off. */
const canOpen = (engine: AnyEngine): boolean => {
  if (engine.closed) return false
  const { maxSize } = engine.options
  if (maxSize !== 0 && engine.size() >= maxSize) return false
  const backoff = engine.growth.backoffUntil()
  return backoff === 0 || backoff <= engine.now()
}
