/**
 * The one error type of the throwaway server, and the two helpers every step
 * of starting it uses to build one. It lives here, not in `MariaDbServer.ts`,
 * so that the internal modules can construct it without importing the public
 * module that imports them; `MariaDbServer.ts` re-exports the class.
 */
import { Data } from "effect"

/**
 * Anything that went wrong while finding, installing, starting or talking to
 * the throwaway server. `message` is meant to be read by a human.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const program = MariaDbServer.start().pipe(
 *   Effect.catchTag("MariaDbServerError", (e) => Effect.logWarning(e.message))
 * )
 * ```
 */
export class MariaDbServerError extends Data.TaggedError("MariaDbServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A {@link MariaDbServerError}; without a `cause` key at all when there is none (`exactOptionalPropertyTypes`). */
export const serverError = (message: string, cause?: unknown): MariaDbServerError =>
  new MariaDbServerError(cause === undefined ? { message } : { message, cause })

/** The human-readable part of whatever a failed call threw, for inclusion in a message. */
export const describeError = (u: unknown): string => (u instanceof Error ? u.message : String(u))
