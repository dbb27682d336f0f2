/**
 * Waiting until a condition holds, the only three ways tests do it. Pick by
 * what makes the condition come true:
 *
 * - {@link pollUntil}: the outside world (a server, a socket, a child
 *   process). Polls on the real clock, bounded by wall-clock time.
 * - {@link yieldUntil}: fibers of the test's own runtime (the pool's forked
 *   background work), needing no time to pass. Bounded by scheduler turns.
 * - {@link advanceClockUntil}: timers on the TestClock (backoff, retries,
 *   timeouts). Bounded by clock steps.
 *
 * Each fails with `label` when its bound is reached; none is for papering
 * over a race inside the pool.
 */
import { Duration, Effect, TestClock, TestServices } from "effect"

/**
 * Poll `check` against real I/O every 10 ms until it holds, failing after
 * `limitMillis` of wall-clock time. The pause between checks is on the real
 * clock even under `it.effect`'s TestClock (which would never wake it); the
 * check itself runs with the caller's services.
 */
export const pollUntil = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  label: string,
  limitMillis = 10_000
): Effect.Effect<void, E | Error, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + limitMillis
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* TestServices.provideLive(Effect.sleep("10 millis"))
    }
    return yield* Effect.fail(new Error(`${label}: still not true after ${limitMillis} ms`))
  })

/**
 * Let other fibers run until `check` holds. Background work in the pool is
 * forked, so a test yields to it instead of sleeping; a condition that never
 * holds fails the test after a bounded number of scheduler turns.
 */
export const yieldUntil = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  label = "condition"
): Effect.Effect<void, E | Error, R> =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 1_000; turn++) {
      if (yield* check) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.fail(new Error(`${label} did not hold after 1000 scheduler turns`))
  })

/**
 * Advance the TestClock in steps of `step` until `check` holds: for behaviour
 * driven by the pool's own timers (backoff, retries), whose next deadline is
 * only known once the previous step's fibers have run. Before each step,
 * other fibers get up to 20 scheduler turns to react.
 */
export const advanceClockUntil = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  step: Duration.DurationInput,
  label = "condition",
  maxSteps = 1_000
): Effect.Effect<void, E | Error, R> =>
  Effect.gen(function*() {
    for (let i = 0; i < maxSteps; i++) {
      for (let turn = 0; turn < 20; turn++) {
        if (yield* check) return
        yield* Effect.yieldNow()
      }
      yield* TestClock.adjust(step)
    }
    return yield* Effect.fail(new Error(`${label} did not hold after ${maxSteps} clock steps of ${Duration.format(step)}`))
  })
