/**
 * What happens in a pool, as `pool.events` reports it: for a live console,
 * for users' own logging, for tests. Every event names its pool; events
 * about one connection carry the connection's number in its pool (1, 2, …
 * in the order they were opened), never the connection itself, so printing
 * an event never prints a connection's secrets.
 *
 * @since 0.1.0
 */

/**
 * Why a connection was closed: `lifetime` (past `maxLifetime`), `idle`
 * (idle past `idleTimeout` above `minSize`), `invalidated` (by
 * `pool.invalidate`, or the manager saw it drop), `dead` (failed a check),
 * `cleared` (`pool.clear`), `evicted` (made room for another key, in a keyed
 * pool), `error` (a hook failed on it), `closed` (the pool shut down).
 *
 * @since 0.1.0
 */
export type CloseReason = "lifetime" | "idle" | "invalidated" | "dead" | "cleared" | "evicted" | "error" | "closed"

/**
 * One thing that happened in a pool.
 *
 * @example
 * ```ts
 * import type { PoolEvent } from "effect-connection-pool"
 *
 * const describe = (event: PoolEvent.PoolEvent): string => {
 *   switch (event._tag) {
 *     case "timedOut":
 *       return `${event.pool}: ${event.waiters} caller(s) timed out`
 *     case "closed":
 *       return `${event.pool}: connection ${event.connection} closed (${event.reason})`
 *     default:
 *       return `${event.pool}: ${event._tag}`
 *   }
 * }
 * ```
 * @since 0.1.0
 */
export type PoolEvent =
  | { readonly _tag: "opened"; readonly pool: string; readonly connection: number; readonly millis: number }
  | { readonly _tag: "openFailed"; readonly pool: string; readonly error: string; readonly millis: number }
  | { readonly _tag: "acquired"; readonly pool: string; readonly connection: number; readonly waitedMillis: number }
  | { readonly _tag: "released"; readonly pool: string; readonly connection: number; readonly usedMillis: number }
  | { readonly _tag: "timedOut"; readonly pool: string; readonly waiters: number }
  | { readonly _tag: "closed"; readonly pool: string; readonly connection: number; readonly reason: CloseReason }
  | {
    readonly _tag: "leakSuspected"
    readonly pool: string
    readonly connection: number
    readonly borrowedMillis: number
    readonly stack: string
  }
  | { readonly _tag: "leakReturned"; readonly pool: string; readonly connection: number; readonly borrowedMillis: number }
  | { readonly _tag: "evicted"; readonly pool: string; readonly connection: number }
  | {
    /** This subscriber fell behind: `count` older events were dropped so that the pool never waits for it. */
    readonly _tag: "dropped"
    readonly pool: string
    readonly count: number
  }
