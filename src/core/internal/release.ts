/**
 * Release: the one protocol by which a borrowed connection comes back, for
 * `use`, a scoped `acquire` and the Promise facade alike.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Restore } from "./acquire.js"
import { bounded } from "./bounded.js"
import { callOrDie } from "./callOrDie.js"
import type { Engine, Entry } from "./engine.js"

/**
 * `use`'s body once a connection is borrowed (the caller is uninterruptible
 * here, `restore` gives `f` the caller's own interruptibility back): `f` runs,
 * and the connection is released whatever it does, in one frame for both
 * outcomes and no nested mask (`Effect.ensuring` would add both, on every
 * borrow). `site`: the borrower's stack, with leak detection on.
 */
export const lend = <A, E, R, B, E2, R2>(
  engine: Engine<A, E, R>,
  entry: Entry<A>,
  site: Error | undefined,
  restore: Restore,
  f: (conn: A) => Effect.Effect<B, E2, R2>
): Effect.Effect<B, E2, R2> => {
  if (site !== undefined) entry.borrowSite = site
  return Effect.matchCauseEffect(restore(callOrDie(f, entry.conn)), {
    onFailure: (cause) => {
      const hook = release(engine, entry)
      return hook === undefined ? Effect.failCause(cause) : Effect.zipRight(hook, Effect.failCause(cause))
    },
    onSuccess: (value) => {
      const hook = release(engine, entry)
      return hook === undefined ? Effect.succeed(value) : Effect.as(hook, value)
    }
  })
}

/** A scoped `acquire`'s body once a connection is borrowed: released when the caller's scope closes. */
export const holdInScope = <A, E, R>(
  engine: Engine<A, E, R>,
  entry: Entry<A>,
  site: Error | undefined
): Effect.Effect<A, never, Scope.Scope> => {
  if (site !== undefined) entry.borrowSite = site
  return Effect.scopeWith((scope) =>
    Effect.as(Scope.addFinalizer(scope, Effect.suspend(() => release(engine, entry) ?? Effect.void)), entry.conn)
  )
}

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
    (isDirty !== undefined && isClean(engine.manager, entry.conn))
  ) {
    engine.giveBack(entry)
    return undefined
  }
  return releaseWith(engine, entry, onRelease)
}

/** `isDirty` said no; one that throws counts as dirty, so `onRelease` runs (and its failure closes the connection). */
const isClean = <A>(manager: { readonly isDirty?: ((conn: A) => boolean) | undefined }, conn: A): boolean => {
  try {
    return !manager.isDirty!(conn)
  } catch {
    return false
  }
}

/** The release that runs `onRelease`: apart, so that `release` stays small enough to inline into the facade's hot path. */
const releaseWith = <A, E, R>(
  engine: Engine<A, E, R>,
  entry: Entry<A>,
  onRelease: (conn: A) => Effect.Effect<void, E, R>
): Effect.Effect<void> =>
  Effect.flatMap(bounded(engine, callOrDie(onRelease, entry.conn, engine.manager)), (exit) => {
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
