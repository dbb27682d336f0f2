/**
 * The events stream: every subscriber has a bounded buffer of its own, so a
 * slow one loses its oldest events (and is told how many, in a `dropped`
 * event) instead of holding the pool up. Publishing with nobody subscribed
 * costs a length check: the observer builds an event only when `listening`.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { PoolEvent } from "../../core/PoolEvent.js"

/** Events kept for one subscriber that has not read them yet. */
export const BUFFER = 1_024

class Subscriber {
  buffer: Array<PoolEvent> = []
  dropped = 0
  ended = false
  wake: (() => void) | undefined = undefined

  constructor(private readonly pool: string) {}

  push(event: PoolEvent): void {
    if (this.buffer.length >= BUFFER) {
      this.buffer.shift()
      this.dropped++
    }
    this.buffer.push(event)
    this.notify()
  }

  end(): void {
    this.ended = true
    this.notify()
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /** Everything buffered (a `dropped` event first if some were lost), or the end of the stream. */
  readonly take: Effect.Effect<Chunk.Chunk<PoolEvent>, Option.Option<never>> = Effect.suspend(() => {
    if (this.buffer.length > 0 || this.dropped > 0) {
      const events = this.buffer
      this.buffer = []
      if (this.dropped > 0) {
        events.unshift({ _tag: "dropped", pool: this.pool, count: this.dropped })
        this.dropped = 0
      }
      return Effect.succeed(Chunk.unsafeFromArray(events))
    }
    if (this.ended) return Effect.fail(Option.none())
    return Effect.zipRight(
      Effect.async<void>((resume) => {
        this.wake = () => resume(Effect.void)
        return Effect.sync(() => {
          this.wake = undefined
        })
      }),
      this.take
    )
  })
}

export class EventHub {
  private subscribers: Array<Subscriber> = []
  private ended = false

  constructor(private readonly pool: string) {}

  get listening(): boolean {
    return this.subscribers.length > 0
  }

  publish(event: PoolEvent): void {
    for (const subscriber of this.subscribers) subscriber.push(event)
  }

  /** No more events: every stream ends once it has read what it has. */
  end(): void {
    this.ended = true
    for (const subscriber of this.subscribers) subscriber.end()
    this.subscribers = []
  }

  readonly stream: Stream.Stream<PoolEvent> = Stream.unwrapScoped(
    Effect.acquireRelease(
      Effect.sync(() => {
        const subscriber = new Subscriber(this.pool)
        if (this.ended) subscriber.end()
        else this.subscribers = [...this.subscribers, subscriber]
        return subscriber
      }),
      (subscriber) =>
        Effect.sync(() => {
          this.subscribers = this.subscribers.filter((s) => s !== subscriber)
        })
    ).pipe(Effect.map((subscriber) => Stream.repeatEffectChunkOption(subscriber.take)))
  )
}
