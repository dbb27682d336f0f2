/**
 * Acquire: the one decision every borrow starts with (for fibers and for
 * callback waiters alike), validation of idle connections, and the general
 * path that runs validation and `onAcquire` inside the caller's
 * `acquireTimeout`.
 *
 * The common borrow — an idle connection that needs no check, or a wait in
 * line — runs no effect of its own and reads no clock; the general path is
 * taken only when a hook or a validation is due.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { PoolClosedError, PoolTimeoutError } from "../PoolError.js"
import { bounded } from "./bounded.js"
import { callOrDie } from "./callOrDie.js"
import type { Engine, Entry, Waiter } from "./engine.js"
import type { Queued } from "./waiterQueue.js"

/** `Effect.uninterruptibleMask`'s `restore`: only the waiting part of an acquire is interruptible. */
export type Restore = <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>

/**
 * What a borrow does first:
 * - `"ready"`: hand out the connection `takeFirst` took, as it is;
 * - `"attempt"`: run `attempt` (validation, `onAcquire`) from that connection, or from none;
 * - `"wait"`: join the line (whatever a waiter is handed was just opened,
 *   returned or checked: it needs no validation, so waiting is all there is to bound);
 * - `"closed"`: fail with `PoolClosedError`.
 */
export type Borrow = "ready" | "attempt" | "wait" | "closed"

/** The most recently returned idle connection, counted as borrowed, when nobody waits (a newcomer never jumps the line). */
export const takeFirst = <A, E, R>(engine: Engine<A, E, R>): Entry<A> | undefined =>
  engine.waiters.size === 0 ? engine.takeIdle() : undefined

/** The one acquire decision, given what `takeFirst` took. */
export const decide = <A, E, R>(engine: Engine<A, E, R>, taken: Entry<A> | undefined): Borrow => {
  if (taken !== undefined) return needsPrepare(engine, taken) ? "attempt" : "ready"
  if (engine.closed) return "closed"
  return engine.manager.onAcquire !== undefined ? "attempt" : "wait"
}

/**
 * For callers that cannot wait for an effect (the Promise facade's fast
 * road): the most recently returned idle connection, taken and counted as
 * borrowed, if it can be handed out as it is (nobody waiting, no validation
 * or `onAcquire` due); otherwise nothing is taken and the caller goes the
 * general way (`takeFirst` + `decide`). Two functions, each with one return
 * type, keep both roads monomorphic.
 */
export const takeReady = <A, E, R>(engine: Engine<A, E, R>): Entry<A> | undefined => {
  if (engine.closed || engine.waiters.size !== 0) return undefined
  const entry = engine.idle[engine.idle.length - 1]
  if (entry === undefined || engine.isRetired(entry) || needsPrepare(engine, entry)) return undefined
  return engine.takeIdle()
}

/** An idle connection needs `onAcquire`, or validation because it sat unchecked too long. */
const needsPrepare = <A, E, R>(engine: Engine<A, E, R>, entry: Entry<A>): boolean =>
  engine.manager.onAcquire !== undefined || (engine.manager.isAlive !== undefined && validationDue(engine, entry))

/** Unchecked for longer than `validateAfterIdle`; 0 means every borrow, even in the same millisecond. */
const validationDue = <A, E, R>(engine: Engine<A, E, R>, entry: Entry<A>): boolean => {
  const { validateAfterIdle } = engine.options
  return validateAfterIdle === 0 || engine.now() - entry.lastAliveAt > validateAfterIdle
}

/**
 * `isAlive` bounded by `validationTimeout`; a failure or a timeout means dead.
 * The check is interruptible even for a caller that is not, or the timeout
 * would wait for a check that never answers.
 */
export const check = <A, E, R>(engine: Engine<A, E, R>, entry: Entry<A>): Effect.Effect<boolean> =>
  Effect.interruptible(engine.provide(callOrDie(engine.manager.isAlive!, entry.conn, engine.manager))).pipe(
    Effect.timeout(engine.options.validationTimeout),
    Effect.catchAllCause(() => Effect.succeed(false))
  )

/**
 * A fiber waiting in line. The connection handed over stays in `entry` until
 * the fiber claims it, so a fiber interrupted in between gives it back
 * (`leave`). Resuming with the shared `Exit.void` allocates nothing.
 */
class FiberWaiter<A> implements Waiter<A> {
  prev: Queued | undefined = undefined
  next: Queued | undefined = undefined
  queued = false
  seq = 0
  /** It has joined the line (and told the caller, see `borrowWith`'s `joined`). */
  joined = false
  entry: Entry<A> | undefined = undefined
  resume: ((exit: Exit.Exit<void, any>) => void) | undefined = undefined
  constructor(readonly deadline: number) {}
  handOff(): void {
    this.resume!(Exit.void)
  }
  fail(cause: Cause.Cause<unknown>): void {
    this.resume!(Exit.failCause(cause))
  }
  claim(): Entry<A> {
    const entry = this.entry!
    this.entry = undefined
    return entry
  }
}

/** Queue up; resumes once a connection is handed over (it is in `waiter.entry`) or the pool fails the waiter. */
export const wait = <A, E, R>(
  engine: Engine<A, E, R>,
  waiter: FiberWaiter<A>,
  joined?: () => void
): Effect.Effect<void, E | PoolTimeoutError | PoolClosedError> =>
  Effect.async<void, E | PoolTimeoutError | PoolClosedError>((resume) => {
    waiter.resume = resume
    engine.enqueue(waiter)
    if (joined !== undefined) {
      waiter.joined = true
      joined()
    }
  })

/** What one `attempt` holds, so that any exit can give it back. */
interface AttemptState<A> {
  waiter: FiberWaiter<A> | undefined
  held: Entry<A> | undefined
  /** `held` came from the idle stack (so it may need validation). */
  fromIdle: boolean
  /** A hook is running on `held`: if the attempt ends now, its state is unknown. */
  hookRunning: boolean
}

/**
 * The general path: validation and `onAcquire` inside the caller's
 * `acquireTimeout`, trying another connection when an idle one turns out
 * dead. Runs under `restore` from an uninterruptible region; on any failure
 * or interruption it gives back (or disposes of) whatever it holds.
 */
export const attempt = <A, E, R>(
  engine: Engine<A, E, R>,
  restore: Restore,
  first: Entry<A> | undefined
): Effect.Effect<Entry<A>, E | PoolTimeoutError | PoolClosedError> => {
  const state: AttemptState<A> = { waiter: undefined, held: first, fromIdle: first !== undefined, hookRunning: false }
  const deadline = engine.deadlineFromNow()
  const loop: Effect.Effect<Entry<A>, E | PoolTimeoutError | PoolClosedError> = Effect.suspend(() => {
    if (state.held === undefined) {
      if (engine.closed) return Effect.fail(engine.closedError)
      const idle = takeFirst(engine)
      if (idle === undefined) {
        const waiter = new FiberWaiter<A>(deadline)
        state.waiter = waiter
        return Effect.flatMap(wait(engine, waiter), () => {
          state.waiter = undefined
          state.held = waiter.claim()
          state.fromIdle = false
          return loop
        })
      }
      state.held = idle
      state.fromIdle = true
    }
    const entry = state.held
    state.hookRunning = true
    return Effect.flatMap(prepare(engine, entry, state.fromIdle), (verdict) => {
      state.hookRunning = false
      // A terminate while it was being checked has disposed of it: never hand that out.
      if (entry.state === "disposed") {
        state.held = undefined
        return engine.closed ? Effect.fail(engine.closedError) : loop
      }
      if (verdict === "ok") return Effect.succeed(entry)
      state.held = undefined
      engine.discard(entry, verdict)
      return loop
    })
  })
  const bounded = Effect.timeoutFail(loop, {
    duration: engine.options.acquireTimeout,
    // Counted here: a caller timed out while a check or `onAcquire` ran (or
    // waiting in line, interrupted before `expireWaiters` got to it) is a
    // timeout like any other. One failed by `expireWaiters` never gets here.
    onTimeout: () => {
      engine.observer.timedOut(1)
      return engine.timeoutError()
    }
  })
  // Only a borrow that found no idle connection waits; one that validates
  // an idle connection (or runs `onAcquire` on it) is served at once.
  return restore(first === undefined ? engine.observer.traceWait(bounded, (entry) => entry) : bounded).pipe(Effect.onExit((exit) => Effect.sync(() => settle(engine, state, exit))))
}

/** What `prepare` found: hand it out, or close it for this reason and try another. */
type Verdict = "ok" | "dead" | "error"

const ok: Effect.Effect<Verdict> = Effect.succeed("ok")
const dead: Effect.Effect<Verdict> = Effect.succeed("dead")
const error: Effect.Effect<Verdict> = Effect.succeed("error")

/**
 * Check a connection before handing it out. A connection that was idle is
 * validated, and if it (or `onAcquire`) fails, the caller tries another. A
 * connection just opened or just returned skips validation, and an
 * `onAcquire` failure on it reaches the caller. An `onAcquire` that runs past
 * `validationTimeout` (see `bounded`) leaves the connection in
 * an unknown state, fresh or not: it is closed and the caller tries another,
 * all within its `acquireTimeout`.
 */
const prepare = <A, E, R>(engine: Engine<A, E, R>, entry: Entry<A>, fromIdle: boolean): Effect.Effect<Verdict, E> => {
  const { isAlive, onAcquire } = engine.manager
  const validate = fromIdle && isAlive !== undefined && validationDue(engine, entry)
  const checked: Effect.Effect<Verdict> = validate ?
    Effect.map(check(engine, entry), (alive) => {
      if (alive) entry.lastAliveAt = engine.now()
      else engine.observer.validationFailed(entry)
      return alive ? "ok" : "dead"
    }) :
    ok
  if (onAcquire === undefined) return checked
  return Effect.flatMap(checked, (verdict) => {
    if (verdict !== "ok") return dead
    return Effect.flatMap(bounded(engine, callOrDie(onAcquire, entry.conn, engine.manager)), (exit): Effect.Effect<Verdict, E> => {
      if (exit === undefined) return error
      if (Exit.isSuccess(exit)) return ok
      return fromIdle ? dead : Effect.failCause(exit.cause)
    })
  })
}

/** Whatever an ended attempt still holds goes back (clean) or away (state unknown). */
const settle = <A, E, R>(engine: Engine<A, E, R>, state: AttemptState<A>, exit: Exit.Exit<Entry<A>, unknown>): void => {
  if (Exit.isSuccess(exit)) return
  if (state.waiter !== undefined) {
    engine.leave(state.waiter)
    state.waiter = undefined
  }
  const held = state.held
  if (held !== undefined) {
    state.held = undefined
    if (state.hookRunning) engine.discard(held, "error")
    else engine.giveBack(held)
  }
}

/**
 * Get a connection for a fiber and continue with `then` (which must give it
 * back on every exit). Runs uninterruptible: only the wait itself is
 * `restore`d.
 */
export const borrow = <A, E, R, B, E2, R2>(
  engine: Engine<A, E, R>,
  restore: Restore,
  then: (entry: Entry<A>) => Effect.Effect<B, E2, R2>
): Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2> =>
  Effect.suspend(() => borrowWith(engine, restore, takeFirst(engine), then))

/**
 * `borrow`, given what `takeFirst` took: for a caller that has looked at the
 * engine already (the keyed pool finds the engine and takes in one step).
 * `joined`, if given, is called once when a waiting caller has joined the
 * line, or has given up before it could (the keyed pool keeps a sub-pool
 * from being dropped until then).
 */
export const borrowWith = <A, E, R, B, E2, R2>(
  engine: Engine<A, E, R>,
  restore: Restore,
  taken: Entry<A> | undefined,
  then: (entry: Entry<A>) => Effect.Effect<B, E2, R2>,
  joined?: () => void
): Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2> => {
  switch (decide(engine, taken)) {
    case "ready":
      return then(taken!)
    case "attempt":
      return Effect.flatMap(attempt(engine, restore, taken), then)
    case "closed":
      return Effect.fail(engine.closedError)
    case "wait": {
      const waiter = new FiberWaiter<A>(engine.deadlineFromNow())
      return Effect.matchCauseEffect(restore(engine.observer.traceWait(wait(engine, waiter, joined), () => waiter.entry)), {
        // Interrupted (or failed by the pool): leave the line, and give back
        // a connection handed over in the meantime.
        onFailure: (cause) => {
          engine.leave(waiter)
          if (joined !== undefined && !waiter.joined) joined()
          return Effect.failCause(cause)
        },
        onSuccess: () => then(waiter.claim())
      })
    }
  }
}
