import { Effect } from "effect"

/**
 * Poll `check` against real I/O (a server, a socket) every 10 ms until it
 * holds, failing after `limitMillis`. For waiting on the outside world, never
 * for papering over a race inside the pool.
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
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.fail(new Error(`${label}: still not true after ${limitMillis} ms`))
  })
