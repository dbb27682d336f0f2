/**
 * A pool's events as an `AsyncIterable` for `for await`, subscribed when the
 * loop starts. `Stream.toAsyncIterable` subscribes only once its fiber runs,
 * a few microtasks after the first `next()`, so a loop started just before
 * an `acquire` missed that borrow's events. Here the stream's subscription
 * (a synchronous acquire) is made in `[Symbol.asyncIterator]()` itself.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

const end = { done: true, value: undefined } as const

export const eventsIterable = <A>(events: Stream.Stream<A>): AsyncIterable<A> => ({
  [Symbol.asyncIterator](): AsyncIterator<A> {
    const scope = Effect.runSync(Scope.make())
    const pull = Effect.runSync(Scope.extend(Stream.toPull(events), scope))
    let chunk: ReadonlyArray<A> = []
    let index = 0
    let closed = false
    // Each loop is a subscriber of its own: ending it (the stream's end, `break`, a throw) unsubscribes.
    const close = () => {
      closed = true
      return Effect.runPromise(Scope.close(scope, Exit.void))
    }
    return {
      async next() {
        while (index >= chunk.length) {
          if (closed) return end
          const exit = await Effect.runPromiseExit(pull)
          if (Exit.isFailure(exit)) {
            await close()
            const failure = Cause.failureOption(exit.cause)
            // A failure of None is the stream's end; anything else is thrown to the loop.
            if (Option.isSome(failure) && Option.isNone(failure.value)) return end
            throw Cause.squash(exit.cause)
          }
          chunk = Chunk.toReadonlyArray(exit.value)
          index = 0
        }
        return { done: false, value: chunk[index++]! }
      },
      async return() {
        if (!closed) await close()
        return end
      }
    }
  }
})
