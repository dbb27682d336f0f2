/**
 * A user's `use` callback, called so that a throw (instead of a returned
 * effect) becomes a defect: the caller holds a connection that must go back,
 * and a throw would skip the release.
 */
import * as Effect from "effect/Effect"

/** `f(a)`, with a throw turned into a defect. */
export const callOrDie = <X, B, E, R>(f: (a: X) => Effect.Effect<B, E, R>, a: X): Effect.Effect<B, E, R> => {
  try {
    return f(a)
  } catch (defect) {
    return Effect.die(defect)
  }
}
