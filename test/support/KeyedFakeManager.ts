/**
 * An in-memory keyed connection manager for the keyed pool's tests: records
 * every call with its key, can be told to fail per key or to take (TestClock)
 * time, and counts disposals per connection (each must be exactly one).
 */
import { Data, Effect } from "effect"
import type { KeyedConnectionManager } from "../../src/index.js"

export class KeyedFakeError extends Data.TaggedError("KeyedFakeError")<{ readonly reason: string; readonly key: string }> {}

export interface KeyedConn {
  /** 1, 2, … over all keys, in the order created. */
  readonly id: number
  readonly key: string
  alive: boolean
  disposed: number
}

export interface KeyedFakeControls {
  /** Keys whose every create fails. */
  readonly down: Set<string>
  /** Fail the next n creates (any key). */
  failCreates: number
  /** Each create takes this long (TestClock time). */
  createDelay: number
  failOnAcquire: boolean
  failOnRelease: boolean
  failIsAlive: boolean
  dieOnDispose: boolean
}

export interface KeyedFake {
  readonly manager: KeyedConnectionManager.KeyedConnectionManager<unknown, KeyedConn, KeyedFakeError>
  readonly controls: KeyedFakeControls
  readonly created: Array<KeyedConn>
  readonly disposed: Array<KeyedConn>
  /** Every hook call, as `hook:key`. */
  readonly calls: Array<string>
  readonly count: (hook: string, key?: string) => number
  /** Connections opened and not yet disposed, for one key or all. */
  readonly open: (key?: string) => number
}

/** The key as the fake records it: strings as they are, anything else as JSON. */
export const keyName = (key: unknown): string => typeof key === "string" ? key : JSON.stringify(key)

export const makeKeyedFake = (
  options: { readonly hooks?: ReadonlyArray<"isAlive" | "onAcquire" | "onRelease"> } = {}
): KeyedFake => {
  const hooks = new Set(options.hooks ?? [])
  const controls: KeyedFakeControls = {
    down: new Set(),
    failCreates: 0,
    createDelay: 0,
    failOnAcquire: false,
    failOnRelease: false,
    failIsAlive: false,
    dieOnDispose: false
  }
  const created: Array<KeyedConn> = []
  const disposed: Array<KeyedConn> = []
  const calls: Array<string> = []
  const manager: KeyedConnectionManager.KeyedConnectionManager<unknown, KeyedConn, KeyedFakeError> = {
    create: (k) =>
      Effect.suspend(() => {
        const key = keyName(k)
        calls.push(`create:${key}`)
        const open = Effect.suspend(() => {
          if (controls.down.has(key) || controls.failCreates > 0) {
            if (controls.failCreates > 0) controls.failCreates--
            return Effect.fail(new KeyedFakeError({ reason: "create", key }))
          }
          const conn: KeyedConn = { id: created.length + 1, key, alive: true, disposed: 0 }
          created.push(conn)
          return Effect.succeed(conn)
        })
        return controls.createDelay > 0 ? Effect.zipRight(Effect.sleep(controls.createDelay), open) : open
      }),
    dispose: (conn, k) =>
      Effect.suspend(() => {
        calls.push(`dispose:${keyName(k)}`)
        conn.disposed++
        disposed.push(conn)
        return controls.dieOnDispose ? Effect.die(new Error("dispose blew up")) : Effect.void
      }),
    isAlive: hooks.has("isAlive") ?
      (conn, k) =>
        Effect.suspend(() => {
          calls.push(`isAlive:${keyName(k)}`)
          return controls.failIsAlive ?
            Effect.fail(new KeyedFakeError({ reason: "isAlive", key: keyName(k) })) :
            Effect.succeed(conn.alive)
        }) :
      undefined,
    onAcquire: hooks.has("onAcquire") ?
      (_conn, k) =>
        Effect.suspend(() => {
          calls.push(`onAcquire:${keyName(k)}`)
          return controls.failOnAcquire ? Effect.fail(new KeyedFakeError({ reason: "onAcquire", key: keyName(k) })) : Effect.void
        }) :
      undefined,
    onRelease: hooks.has("onRelease") ?
      (_conn, k) =>
        Effect.suspend(() => {
          calls.push(`onRelease:${keyName(k)}`)
          return controls.failOnRelease ? Effect.fail(new KeyedFakeError({ reason: "onRelease", key: keyName(k) })) : Effect.void
        }) :
      undefined
  }
  return {
    manager,
    controls,
    created,
    disposed,
    calls,
    count: (hook, key) => calls.filter((c) => key === undefined ? c.startsWith(`${hook}:`) : c === `${hook}:${key}`).length,
    open: (key) => created.filter((c) => c.disposed === 0 && (key === undefined || c.key === key)).length
  }
}
