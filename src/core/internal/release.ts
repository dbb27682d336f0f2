/**
 * Release: the one protocol by which a borrowed connection comes back, for
 * `use`, a scoped `acquire` and the Promise facade alike.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { bounded } from "./bounded.js"
import type { Engine, Entry } from "./engine.js"

/**
 * Give a borrowed connection back. When no `onRelease` needs to run (there is
 * none, `isDirty` says there is nothing to undo, or the pool closed, cleared
 * or invalidated the connection) it is back when this returns, and the result
 * is undefined: the common release runs no effect (and no timer). Otherwise
 * the result is the effect still to run: `onRelease`, bounded by
 * `validationTimeout`, then back to the pool, or disposed if the hook fails or
 * runs out of time.
 *
 * The release runs where the caller cannot interrupt it (a half-done reset
 * must not be pooled), so the bound is what lets `Effect.timeout(pool.use(f))`
 * return (see `bounded`). Past the bound the connection's state is unknown,
 * so it goes.
 *
 * An expired connection still runs the hook: telling would cost a clock read
 * on every release, and `deliver` disposes of it right after.
 */
export const release = <A, E, R>(engine: Engine<A, E, R>, entry: Entry<A>): Effect.Effect<void> | undefined => {
  const { isDirty, onRelease } = engine.manager
  if (
    onRelease === undefined || entry.state === "disposed" || engine.isRetired(entry) ||
    (isDirty !== undefined && !isDirty(entry.conn))
  ) {
    engine.giveBack(entry)
    return undefined
  }
  return releaseWith(engine, entry, onRelease)
}

/** The release that runs `onRelease`: apart, so that `release` stays small enough to inline into the facade's hot path. */
const releaseWith = <A, E, R>(
  engine: Engine<A, E, R>,
  entry: Entry<A>,
  onRelease: (conn: A) => Effect.Effect<void, E, R>
): Effect.Effect<void> =>
  Effect.flatMap(bounded(engine, onRelease(entry.conn)), (exit) => {
    if (exit !== undefined && Exit.isSuccess(exit)) {
      engine.giveBack(entry)
      return Effect.void
    }
    engine.discard(entry, "error")
    return exit === undefined ?
      Effect.logWarning(
        `ConnectionPool: onRelease did not complete within validationTimeout (${engine.options.validationTimeout} ms); connection ${entry.id} closed`
      ) :
      Effect.void
  })
