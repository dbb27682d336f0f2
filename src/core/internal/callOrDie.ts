/**
 * A user's `use` callback or a manager's hook, called so that a throw
 * (instead of a returned effect) becomes a defect: the caller holds a
 * connection that must go back, and a throw would skip the release (or,
 * from `dispose`, leave the pool's books open).
 */
import * as Effect from "effect/Effect"

/** `f(a)`, as a method of `self` when given (a manager written as a class keeps its `this`), with a throw turned into a defect. */
export const callOrDie = <X, B, E, R>(f: (a: X) => Effect.Effect<B, E, R>, a: X, self?: object): Effect.Effect<B, E, R> => {
  try {
    return f.call(self, a)
  } catch (defect) {
    return Effect.die(defect)
  }
}
