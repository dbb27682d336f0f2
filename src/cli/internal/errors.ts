/**
 * The two ways a command ends badly, by exit code: a bad option or
 * environment variable (`UsageError`, exit 2, before anything starts), and
 * anything that goes wrong once it runs (`CommandFailed`, exit 1: the server
 * is unreachable, a statement fails to prepare, a file cannot be written).
 * Both carry the one line that is printed; neither ever holds a password.
 */
import * as Data from "effect/Data"

/** A bad value: `option` is the flag (`--callers`) or the variable (`MYSQL_POOL_MAX_SIZE`). */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly option: string
  readonly value: string
  readonly message: string
}> {}

export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly message: string
}> {}
