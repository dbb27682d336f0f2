import { Duration, Effect, TestClock } from "effect"

/**
 * Let other fibers run until `check` holds. Background work in the pool is
 * forked, so a test yields to it instead of sleeping; a condition that never
 * holds fails the test after a bounded number of scheduler turns.
 */
export const eventually = <E, R>(
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
 * only known once the previous step's fibers have run.
 */
export const eventuallyAdvancing = <E, R>(
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
