/**
 * The error of a connection used after its borrow ended.
 *
 * @since 0.1.0
 */
import { SqlError } from "@effect/sql/SqlError"

/**
 * A statement was run on a connection whose borrow had already ended: a
 * handle kept after `release()` (Promise facade), or a connection that
 * escaped its `Pool.use` / `Effect.scoped`. The statement never reached the
 * connection, which by then may belong to someone else; borrow again
 * instead. `operation` is what was attempted (`query`, `execute`, `raw`, …).
 *
 * It is a `SqlError` (tag `"SqlError"`), so the statement methods keep their
 * error type and code that handles `SqlError` handles it too; tell it apart
 * with `instanceof ConnectionReleasedError`. (Like a closed JDBC
 * connection's `SQLException`: the statement failed because of the
 * connection.)
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ConnectionReleasedError, Pool } from "effect-connection-pool"
 *
 * // A connection kept past its borrow fails at once and never runs the statement.
 * export const program = Effect.gen(function* () {
 *   const escaped = yield* Pool.use((conn) => Effect.succeed(conn))
 *   return yield* escaped.query("SELECT 1").pipe(
 *     Effect.catchIf((error) => error instanceof ConnectionReleasedError, (error) => Effect.succeed(error.message))
 *   )
 * })
 * ```
 * @since 0.1.0
 */
export class ConnectionReleasedError extends SqlError {
  /** The server's id of the connection the handle was for. */
  readonly threadId: number
  /** What was attempted: `query`, `execute`, `raw`, `stream`, … */
  readonly operation: string

  constructor(args: { readonly threadId: number; readonly operation: string }) {
    super({
      message: `Connection ${args.threadId} was already given back to the pool: ${args.operation} refused ` +
        `(this handle's borrow has ended; borrow a connection again)`
    })
    this.threadId = args.threadId
    this.operation = args.operation
    this.name = "ConnectionReleasedError"
  }
}
