/**
 * Release: the one protocol by which a borrowed connection comes back, for
 * `use`, a scoped `acquire` and the Promise facade alike.
 */
import * as Effect from "effect/Effect"
import type { Engine, Entry } from "./engine.js"

/**
 * Give a borrowed connection back. When no `onRelease` needs to run (there is
 * none, `isDirty` says there is nothing to undo, or the pool closed, cleared
 * or invalidated the connection) it is back when this returns, and the result
 * is undefined: the common release runs no effect. Otherwise the result is
 * the effect still to run: `onRelease`, then back to the pool, or disposed if
 * the hook fails.
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
  return engine.provide(onRelease(entry.conn)).pipe(
    Effect.matchCause({
      onFailure: () => engine.discard(entry, "error"),
      onSuccess: () => engine.giveBack(entry)
    })
  )
}
