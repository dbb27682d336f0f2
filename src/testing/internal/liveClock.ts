/**
 * The throwaway server always runs on the real clock, even under
 * `@effect/vitest`'s TestClock (which `it.effect` and `layer(...)` install):
 * a readiness poll, a stop grace period or a connect timeout measured on a
 * test clock would never elapse.
 */
import { Clock, Effect } from "effect"

const liveClock = Clock.make()

/** Run `self` on the real clock, whatever clock the caller provides. */
export const live = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.withClock(self, liveClock)
