/**
 * An in-memory connection manager for the core's tests: records every call,
 * can be told to fail or to take (TestClock) time, and checks that no
 * connection is disposed twice.
 */
import { Data, Effect } from "effect"
import type { ConnectionManager } from "../../src/index.js"

export class FakeError extends Data.TaggedError("FakeError")<{ readonly reason: string }> {}

export interface FakeConn {
  readonly id: number
  alive: boolean
  disposed: number
}

export interface FakeControls {
  /** Fail the next n creates. */
  failCreates: number
  /** Fail every create while true. */
  down: boolean
  /** Each create takes this long (TestClock time). */
  createDelay: number
  failOnAcquire: boolean
  failOnRelease: boolean
  dieOnDispose: boolean
}

export interface Fake {
  readonly manager: ConnectionManager<FakeConn, FakeError>
  readonly controls: FakeControls
  readonly created: Array<FakeConn>
  readonly disposed: Array<FakeConn>
  readonly calls: { create: number; isAlive: number; onAcquire: number; onRelease: number; dispose: number }
  /** Connections opened and not yet disposed. */
  readonly open: () => number
}

export const makeFake = (
  options: { readonly hooks?: ReadonlyArray<"isAlive" | "onAcquire" | "onRelease"> } = {}
): Fake => {
  const hooks = new Set(options.hooks ?? ["isAlive", "onAcquire", "onRelease"])
  const controls: FakeControls = {
    failCreates: 0,
    down: false,
    createDelay: 0,
    failOnAcquire: false,
    failOnRelease: false,
    dieOnDispose: false
  }
  const created: Array<FakeConn> = []
  const disposed: Array<FakeConn> = []
  const calls = { create: 0, isAlive: 0, onAcquire: 0, onRelease: 0, dispose: 0 }
  const manager: ConnectionManager<FakeConn, FakeError> = {
    create: Effect.suspend(() => {
      calls.create++
      const open = Effect.suspend(() => {
        if (controls.down || controls.failCreates > 0) {
          if (controls.failCreates > 0) controls.failCreates--
          return Effect.fail(new FakeError({ reason: "create" }))
        }
        const conn: FakeConn = { id: created.length + 1, alive: true, disposed: 0 }
        created.push(conn)
        return Effect.succeed(conn)
      })
      return controls.createDelay > 0 ? Effect.zipRight(Effect.sleep(controls.createDelay), open) : open
    }),
    dispose: (conn) =>
      Effect.suspend(() => {
        calls.dispose++
        conn.disposed++
        disposed.push(conn)
        return controls.dieOnDispose ? Effect.die(new Error("dispose blew up")) : Effect.void
      }),
    isAlive: hooks.has("isAlive") ?
      (conn) =>
        Effect.sync(() => {
          calls.isAlive++
          return conn.alive
        }) :
      undefined,
    onAcquire: hooks.has("onAcquire") ?
      () =>
        Effect.suspend(() => {
          calls.onAcquire++
          return controls.failOnAcquire ? Effect.fail(new FakeError({ reason: "onAcquire" })) : Effect.void
        }) :
      undefined,
    onRelease: hooks.has("onRelease") ?
      () =>
        Effect.suspend(() => {
          calls.onRelease++
          return controls.failOnRelease ? Effect.fail(new FakeError({ reason: "onRelease" })) : Effect.void
        }) :
      undefined
  }
  return {
    manager,
    controls,
    created,
    disposed,
    calls,
    open: () => created.filter((c) => c.disposed === 0).length
  }
}
