/**
 * The observer every pool gets once observability is loaded: metrics, leak
 * detection, the wait span and the events stream, all fed by the engine's
 * reports (see `EngineObserver` in the engine seam).
 *
 * What it costs a borrow: nothing is allocated. With metrics on, a borrow
 * reads the clock once on the way out (the way back reads it anyway, for the
 * idle time, and the engine shares that reading) and adds one sample to
 * each of two histograms; the counts cost nothing (they are read from the
 * books, see metrics.ts). With metrics off and nobody listening, each
 * report is a few field reads. An event object is built only while
 * somebody listens.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import {
  type CloseReason,
  type Engine,
  type EngineObserver,
  type Entry,
  type GroupInfo,
  type GroupObservation,
  messageOf,
  stacklessSite,
  takeEveryStack
} from "../../core/internal/engine.js"
import type { PoolEvent } from "../../core/PoolEvent.js"
import { EventHub } from "./events.js"
import { POOL_NAME, PoolMetrics } from "./metrics.js"

export const WAIT_SPAN = "db.client.connection.wait"

/** The tracer a fiber has when the app installed none (its spans are kept nowhere). */
const effectsOwnTracer = Effect.runSync(Effect.tracer)

/** `Entry.borrowedAt` of a borrow nobody timed (a clock may well read 0: a fresh TestClock does). */
const NOT_TIMED = -1

/**
 * What the sub-pools of a keyed pool share: one events hub (so the pool has
 * one stream however many keys come and go) and one set of metric series,
 * whose limits are the family's (`db.client.connection.max` = the total cap).
 */
export class FamilyObservation implements GroupObservation {
  readonly hub: EventHub
  /** The family's series; undefined with metrics off, or by key (each sub-pool then has its own). */
  readonly metrics: PoolMetrics | undefined
  readonly byKey: boolean
  readonly events: Stream.Stream<PoolEvent>
  constructor(group: GroupInfo) {
    this.hub = new EventHub(group.name)
    this.events = this.hub.stream
    this.byKey = group.metrics && group.byKey
    this.metrics = group.metrics && !group.byKey ? new PoolMetrics(group.name, undefined) : undefined
    this.metrics?.setLimits(0, group.maxSize)
  }
  readonly shutdown = (): void => {
    this.metrics?.detach()
    this.hub.end()
  }
}

/** A key as a metric attribute: strings as they are, anything else as JSON where it can be. */
const keyLabel = (key: unknown): string => {
  if (typeof key === "string") return key
  try {
    return JSON.stringify(key) ?? String(key)
  } catch {
    return String(key)
  }
}

export class PoolObserver<A, E, R> implements EngineObserver<A> {
  private readonly metrics: PoolMetrics | undefined
  private readonly hub: EventHub
  private readonly leakThreshold: number
  private leakTimerRunning = false
  /** A sub-pool of a keyed pool: its events carry its key, and the family ends the stream. */
  private readonly family: FamilyObservation | undefined
  readonly events: Stream.Stream<PoolEvent>

  constructor(private readonly engine: Engine<A, E, R>) {
    const { leakDetectionThreshold, maxSize, metrics, minSize } = engine.options
    const family = engine.group?.observation
    this.family = family instanceof FamilyObservation ? family : undefined
    if (this.family !== undefined) {
      if (this.family.byKey) {
        this.metrics = new PoolMetrics(engine.name, engine, undefined, keyLabel(engine.key))
        this.metrics.setLimits(minSize, maxSize)
      } else {
        this.metrics = metrics && this.family.metrics !== undefined ?
          new PoolMetrics(engine.name, engine, this.family.metrics) :
          undefined
      }
      this.hub = this.family.hub
    } else {
      this.metrics = metrics ? new PoolMetrics(engine.name, engine) : undefined
      this.metrics?.setLimits(minSize, maxSize)
      this.hub = new EventHub(engine.name)
    }
    this.events = this.hub.stream
    this.leakThreshold = leakDetectionThreshold
  }

  /** Publish, with the key of a sub-pool (the spread is paid only while somebody listens to a keyed pool). */
  private publish(event: PoolEvent): void {
    this.hub.publish(this.family === undefined ? event : { ...event, key: this.engine.key } as unknown as PoolEvent)
  }

  /**
   * Whether borrows are timed (a clock read each way): for metrics or a
   * listener. Leak detection alone reads no clock per borrow: its watcher
   * notes each borrow it finds (see `leakCheck`).
   */
  private get timing(): boolean {
    return this.metrics !== undefined || this.hub.listening
  }

  // Methods on the prototype, not arrow fields: the engine calls them as
  // methods, and a keyed pool has one observer per key, so per-observer
  // closures cost memory and cache lines on every borrow that crosses keys.
  opened(entry: Entry<A>, millis: number): void {
    this.metrics?.created(millis)
    if (this.hub.listening) {
      this.publish({ _tag: "opened", pool: this.engine.name, connection: entry.id, millis })
    }
  }

  openFailed(cause: Cause.Cause<unknown>, millis: number): void {
    this.metrics?.createFailed()
    if (this.hub.listening) {
      this.publish({ _tag: "openFailed", pool: this.engine.name, error: messageOf(Cause.squash(cause)), millis })
    }
  }

  borrowed(entry: Entry<A>, askedAt: number | undefined, now: number | undefined): void {
    if (this.leakThreshold > 0) this.startLeakTimer()
    if (!this.timing) return
    now ??= this.engine.now()
    entry.borrowedAt = now
    const waited = askedAt === undefined ? 0 : Math.max(0, now - askedAt)
    this.metrics?.waited(waited)
    if (this.hub.listening) {
      this.publish({ _tag: "acquired", pool: this.engine.name, connection: entry.id, waitedMillis: waited })
    }
  }

  returned(entry: Entry<A>): number | undefined {
    const borrowedAt = entry.borrowedAt
    const notedAt = entry.leakNotedAt
    entry.borrowedAt = NOT_TIMED
    entry.leakNotedAt = NOT_TIMED
    entry.borrowSite = undefined
    entry.firstBorrow = false
    if (borrowedAt === NOT_TIMED) {
      if (!entry.leakReported) return undefined
      const now = this.engine.now()
      this.leakEnded(entry, Math.max(0, now - notedAt))
      return now
    }
    const now = this.engine.now()
    const used = Math.max(0, now - borrowedAt)
    this.metrics?.borrowedFor(used)
    if (this.hub.listening) {
      this.publish({ _tag: "released", pool: this.engine.name, connection: entry.id, usedMillis: used })
    }
    if (entry.leakReported) this.leakEnded(entry, used)
    return now
  }

  closed(entry: Entry<A>, reason: CloseReason): void {
    this.metrics?.closed(reason)
    if (this.hub.listening) {
      this.publish({ _tag: "closed", pool: this.engine.name, connection: entry.id, reason })
    }
  }

  timedOut(count: number): void {
    this.metrics?.timedOut(count)
    if (this.hub.listening) this.publish({ _tag: "timedOut", pool: this.engine.name, waiters: count })
  }

  validationFailed(_entry: Entry<A>): void {
    this.metrics?.validationFailed()
  }

  /**
   * A span named `db.client.connection.wait` around the part of a borrow that
   * waits, with the pool's name and whether a connection was opened for it,
   * when the app has a tracer. A borrow served from the idle stack never
   * gets here, so it adds no span.
   */
  traceWait<X, Y, Z>(
    effect: Effect.Effect<X, Y, Z>,
    entryOf: (result: X) => Entry<A> | undefined
  ): Effect.Effect<X, Y, Z> {
    // Called in the borrowing fiber. Without a tracer of the app's own the
    // span would go nowhere, and it costs a waiting caller more than the
    // wait itself (several µs and about 6 KB of heap each).
    const fiber = Option.getOrUndefined(Fiber.getCurrentFiber())
    if (fiber === undefined || fiber.currentTracer === effectsOwnTracer) return effect
    return Effect.tap(effect, (result) => {
      const entry = entryOf(result)
      // `firstBorrow`: the connection was opened and came straight to this
      // caller (one opened for an earlier caller and passed on is not).
      return entry === undefined ? Effect.void : Effect.annotateCurrentSpan({
        "db.client.connection.opened": entry.firstBorrow,
        "db.client.connection.id": entry.id
      })
    }).pipe(Effect.withSpan(WAIT_SPAN, { kind: "internal", attributes: { [POOL_NAME]: this.engine.name } }))
  }

  shutdown(): void {
    // A sub-pool's books leave the family's series; the family's limits and stream outlive it.
    this.metrics?.detach()
    if (this.family === undefined) this.hub.end()
  }

  // ------------------------------------------------------------ leak detection

  /**
   * One timer per pool, not one per borrow: it wakes at the earliest moment
   * a borrowed connection passes the threshold, reports every one that has,
   * and sleeps until the next; with nothing borrowed it stops, and the next
   * borrow starts it again.
   *
   * Borrows nobody timed (metrics off and nobody listening: the Promise
   * facade's default) are noted when a pass first finds them, and while
   * anything is borrowed the timer also wakes every quarter of the
   * threshold: such a borrow is reported at most a quarter of the threshold
   * late, never early, and its time out is counted from when it was noted.
   * The pass that a borrow starts runs at once, so a borrow into a quiet pool
   * is noted as it happens.
   */
  private startLeakTimer(): void {
    if (this.leakTimerRunning) return
    this.leakTimerRunning = true
    this.engine.run(this.leakCheck)
  }

  private readonly leakCheck: Effect.Effect<void> = Effect.suspend(() => {
    const engine = this.engine
    const now = engine.now()
    let next = Infinity
    const reports: Array<Effect.Effect<void>> = []
    let watching = false
    for (const entry of engine.entries.values()) {
      if (entry.state !== "borrowed" || entry.leakReported) continue
      watching = true
      let since = entry.borrowedAt
      if (since === NOT_TIMED) {
        if (entry.leakNotedAt === NOT_TIMED) entry.leakNotedAt = now
        since = entry.leakNotedAt
      }
      const due = since + this.leakThreshold
      if (due <= now) reports.push(this.leakSuspected(entry, now - since))
      else if (due < next) next = due
    }
    const reported = Effect.all(reports, { discard: true })
    // A borrow made from now on may go untimed (timing stops when the last
    // listener leaves), and only a pass notes it: look again within a quarter
    // of the threshold. At most four wakes a threshold, while a borrow is out.
    if (watching) next = Math.min(next, now + Math.ceil(this.leakThreshold / 4))
    if (next === Infinity) {
      // Nothing out that is still to be reported: the next borrow starts the timer again.
      this.leakTimerRunning = false
      return reported
    }
    return reported.pipe(Effect.zipRight(Effect.sleep(next - now)), Effect.zipRight(this.leakCheck))
  })

  private leakSuspected(entry: Entry<A>, borrowedMillis: number): Effect.Effect<void> {
    entry.leakReported = true
    this.metrics?.leak()
    // Past the stack budget: every later borrow brings its stack (see borrowSite.ts).
    if (entry.borrowSite === stacklessSite) takeEveryStack()
    const stack = entry.borrowSite?.stack ?? "(no stack: the borrow did not go through pool.use, pool.acquire or the facade)"
    if (this.hub.listening) {
      this.publish({ _tag: "leakSuspected", pool: this.engine.name, connection: entry.id, borrowedMillis, stack })
    }
    return Effect.logWarning(
      `ConnectionPool ${this.engine.name}: connection ${entry.id} has been borrowed for ${borrowedMillis} ms ` +
        `(leakDetectionThreshold ${this.leakThreshold} ms): apparent connection leak; borrowed at:\n${stack}`
    ).pipe(Effect.annotateLogs(POOL_NAME, this.engine.name))
  }

  private leakEnded(entry: Entry<A>, borrowedMillis: number): void {
    entry.leakReported = false
    if (this.hub.listening) {
      this.publish({ _tag: "leakReturned", pool: this.engine.name, connection: entry.id, borrowedMillis })
    }
    this.engine.run(
      Effect.logInfo(
        `ConnectionPool ${this.engine.name}: connection ${entry.id}, reported as a suspected leak, was returned after ${borrowedMillis} ms`
      ).pipe(Effect.annotateLogs(POOL_NAME, this.engine.name))
    )
  }
}
