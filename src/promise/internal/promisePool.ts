/**
 * The Promise facade's machinery, on the core's engine seam: a borrow that
 * finds a ready idle connection runs no effect at all (`takeReady`), a
 * waiting caller is one `PromiseWaiter` object and its promise (no fiber),
 * and only validation, `onAcquire` and `onRelease` go through the Effect
 * runtime.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { ConnectionPool, PoolStats } from "../../core/ConnectionPool.js"
import {
  attempt,
  decide,
  type Engine,
  engineOf,
  type Entry,
  release,
  takeFirst,
  takeReady,
  type Queued,
  type Waiter
} from "../../core/internal/engine.js"

const noop = (): void => {}
const released: Promise<void> = Promise.resolve()

/** One shared promise executor: `promise()` hands it the waiter through this slot, so no closure is made per waiter. */
let adopting: { resolve: (value: any) => void } | undefined
const adopt = (resolve: (value: any) => void): void => {
  adopting!.resolve = resolve
  adopting = undefined
}

/** A caller of the Promise facade waiting in line: one object and its promise. */
class PromiseWaiter<A, C> implements Waiter<A> {
  prev: Queued | undefined = undefined
  next: Queued | undefined = undefined
  queued = false
  entry: Entry<A> | undefined = undefined
  // Only `resolve` is kept (a waiter is kept per blocked caller, so bytes
  // count): resolving with a rejected promise rejects the caller.
  resolve: (value: C | Promise<never>) => void = noop
  constructor(
    readonly deadline: number,
    private readonly wrap: (entry: Entry<A>) => C
  ) {}
  promise(): Promise<C> {
    adopting = this
    return new Promise<C>(adopt)
  }
  handOff(): void {
    const entry = this.entry!
    this.entry = undefined
    this.resolve(this.wrap(entry))
  }
  fail(cause: Cause.Cause<unknown>): void {
    this.resolve(Promise.reject(Cause.squash(cause)))
  }
}

/**
 * One borrow: the pool it belongs to, the borrowed value, and its entry
 * until it is released (cleared then, so a second release does nothing).
 * The generic facade hands these out as they are; the MySQL facade's
 * handle extends it with statements. (Not itself derived: a derived class's
 * construction costs the fast road measurably.)
 */
export class LeaseHandle<A> implements AsyncDisposable {
  constructor(
    public entry: Entry<A> | undefined,
    readonly value: A,
    readonly owner: PromisePool<A, any>
  ) {}
  /** Give the connection back (same as `pool.release(handle)`). */
  release(): Promise<void> {
    return this.owner.release(this)
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.owner.release(this)
  }
}

/** A pool, its scope, and the handles it wraps its borrowed entries in. */
export class PromisePool<A, C extends LeaseHandle<A>> {
  private readonly engine: Engine<A, unknown, never>
  private shutdown: Promise<void> | undefined

  constructor(
    private readonly pool: ConnectionPool<A, unknown>,
    private readonly scope: Scope.CloseableScope,
    private readonly wrap: (entry: Entry<A>, pool: PromisePool<A, C>) => C
  ) {
    this.engine = engineOf(pool)!
  }

  get minsize() {
    return this.options().minSize
  }
  get maxsize() {
    return this.options().maxSize
  }
  get size() {
    return this.engine.size()
  }
  get freesize() {
    return this.engine.idle.length
  }
  get closed() {
    return this.engine.closed
  }
  get stats(): PoolStats {
    return this.engine.snapshot()
  }

  private options() {
    return this.engine.options
  }

  private readonly wrapEntry = (entry: Entry<A>) => this.wrap(entry, this)

  acquire(): Promise<C> {
    const entry = takeReady(this.engine)
    return entry !== undefined ? Promise.resolve(this.wrap(entry, this)) : this.acquireLater()
  }

  /** When `takeReady` had nothing: the core's one decision, realised with promises. */
  private acquireLater(): Promise<C> {
    const engine = this.engine
    const taken = takeFirst(engine)
    switch (decide(engine, taken)) {
      case "ready":
        return Promise.resolve(this.wrap(taken!, this))
      case "attempt":
        return Effect.runPromiseExit(Effect.uninterruptibleMask((restore) => attempt(engine, restore, taken))).then(
          (exit) => Exit.isSuccess(exit) ? this.wrap(exit.value, this) : Promise.reject(Cause.squash(exit.cause))
        )
      case "closed":
        return Promise.reject(engine.closedError)
      case "wait": {
        const waiter = new PromiseWaiter<A, C>(engine.deadlineFromNow(), this.wrapEntry)
        const promise = waiter.promise()
        engine.enqueue(waiter)
        return promise
      }
    }
  }

  release(value: unknown): Promise<void> {
    // Only this pool's handles, once each: the entry is cleared on release, and
    // another pool's handle (or anything else) is left alone.
    if (typeof value !== "object" || value === null || (value as LeaseHandle<A>).owner !== this) return released
    const handle = value as LeaseHandle<A>
    const entry = handle.entry
    handle.entry = undefined
    if (entry === undefined) return released
    const hook = release(this.engine, entry)
    return hook === undefined ? released : Effect.runPromise(hook)
  }

  clear(): Promise<void> {
    return Effect.runPromise(this.pool.clear)
  }

  close(): void {
    this.shutdown ??= this.endWith(this.pool.close)
  }

  terminate(): void {
    // Runs even after `close`: it cuts a graceful close short.
    const terminated = this.endWith(this.pool.terminate)
    this.shutdown ??= terminated
  }

  private endWith(shutdown: Effect.Effect<void>): Promise<void> {
    return Effect.runPromise(Effect.ensuring(shutdown, Scope.close(this.scope, Exit.void)))
  }

  waitClosed(): Promise<void> {
    if (this.shutdown === undefined) {
      return Promise.reject(new Error("waitClosed() was called before close() or terminate()"))
    }
    return this.shutdown
  }
}

/**
 * Run `make` in a scope of its own, for a pool that outlives this call: on
 * failure the scope is closed (nothing opened is left behind) and the
 * promise rejects with the error.
 */
export const openInScope = async <P>(
  make: Effect.Effect<P, unknown, Scope.Scope>
): Promise<{ readonly pool: P; readonly scope: Scope.CloseableScope }> => {
  const scope = Effect.runSync(Scope.make())
  const made = await Effect.runPromiseExit(Scope.extend(make, scope))
  if (Exit.isFailure(made)) {
    await Effect.runPromise(Scope.close(scope, made))
    return Promise.reject(Cause.squash(made.cause))
  }
  return { pool: made.value, scope }
}
