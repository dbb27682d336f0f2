/**
 * A facade pool's shutdown, the same for the unkeyed and the keyed facade:
 * `close` (graceful) or `terminate` (at once, also after `close`, to cut it
 * short), the pool's scope closed after either, and one promise that
 * `waitClosed()` and `await using` hand out.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

export class Shutdown {
  private done: Promise<void> | undefined

  constructor(
    private readonly scope: Scope.CloseableScope,
    /** Runs an effect of the pool as a promise (at the facade's log level). */
    private readonly run: (effect: Effect.Effect<void>) => Promise<void>
  ) {}

  /** Whether `close` or `terminate` has been called. */
  get started(): boolean {
    return this.done !== undefined
  }

  /** A graceful close, once; later calls return the same promise. */
  close(close: Effect.Effect<void>): Promise<void> {
    return this.done ??= this.end(close)
  }

  /** Runs even after `close`: it cuts a graceful close short. */
  terminate(terminate: Effect.Effect<void>): void {
    const terminated = this.end(terminate)
    this.done ??= terminated
  }

  wait(): Promise<void> {
    return this.done ?? Promise.reject(new Error("waitClosed() was called before close() or terminate()"))
  }

  private end(shutdown: Effect.Effect<void>): Promise<void> {
    return this.run(Effect.ensuring(shutdown, Scope.close(this.scope, Exit.void)))
  }
}
