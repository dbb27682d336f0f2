/**
 * A hook under a bound: `onAcquire` and `onRelease` run where a connection's
 * state is in the balance, often where the caller cannot be interrupted, so
 * a hook that never answers would hold the caller (and the connection) for
 * good. `Effect.timeout` would bound it, but it forks two fibers per run,
 * each started on the scheduler, and then waits for the hook to be
 * interrupted (forever, for one that cannot be): in a quick measurement a
 * sync `onRelease` on every return (the socket managers have one) lost about
 * four fifths of its releases per second to it.
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type { Engine } from "./engine.js"

/**
 * `hook` as part of the caller's work although it runs in a pool fiber: under
 * the caller's span and with its log annotations, so what the hook traces
 * and logs shows up where the borrow does. Read in the caller's fiber; with
 * neither (the common case) the hook is returned as it is.
 */
const asPartOfCaller = <X, Y, R>(hook: Effect.Effect<X, Y, R>): Effect.Effect<X, Y, R> => {
  const caller = Option.getOrUndefined(Fiber.getCurrentFiber())
  if (caller === undefined) return hook
  const span = caller.currentSpan
  const annotations = caller.getFiberRef(FiberRef.currentLogAnnotations)
  let effect = hook
  if (HashMap.size(annotations) > 0) effect = Effect.locally(effect, FiberRef.currentLogAnnotations, annotations)
  if (span !== undefined) effect = Effect.withParentSpan(effect, span)
  return effect
}

/**
 * Run `hook` in a fiber of the pool, started at once (the pool's runtime runs
 * it synchronously until it first waits): a hook that finishes without
 * waiting, the common case, costs that fiber and no timer. One that waits is
 * given up after `validationTimeout`: the result is then undefined, and the
 * hook is interrupted in the background, never awaited (an uninterruptible
 * hook is abandoned, not waited for). A caller interrupted meanwhile
 * interrupts the hook the same way.
 */
export const bounded = <A, E, R, X, Y>(
  engine: Engine<A, E, R>,
  hook: Effect.Effect<X, Y, R>
): Effect.Effect<Exit.Exit<X, Y> | undefined> =>
  Effect.suspend(() => {
    const fiber = engine.run(asPartOfCaller(hook))
    const done = fiber.unsafePoll()
    if (done !== null) return Effect.succeed(done)
    return Effect.async<Exit.Exit<X, Y> | undefined>((resume) => {
      let settled = false
      let timer: Fiber.RuntimeFiber<void> | undefined
      const observer = (exit: Exit.Exit<X, Y>) => {
        if (settled) return
        settled = true
        timer?.unsafeInterruptAsFork(FiberId.none)
        resume(Effect.succeed(exit))
      }
      const giveUp = () => {
        if (settled) return false
        settled = true
        fiber.removeObserver(observer)
        fiber.unsafeInterruptAsFork(FiberId.none)
        return true
      }
      fiber.addObserver(observer)
      timer = engine.run(Effect.zipRight(
        Effect.sleep(engine.options.validationTimeout),
        Effect.sync(() => {
          if (giveUp()) resume(Effect.succeed(undefined))
        })
      ))
      return Effect.sync(() => {
        if (giveUp()) timer!.unsafeInterruptAsFork(FiberId.none)
      })
    })
  })
