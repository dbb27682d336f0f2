/**
 * The `effect-connection-pool` command-line tool, built with `@effect/cli`:
 *
 * - `top`: a live console for a pool under a workload;
 * - `sweep`: the workload at several pool sizes, with a table, a CSV, a
 *   chart and a recommended `maxSize`;
 * - `check`: the server's limits against the pool's settings.
 *
 * Every command reads the config the way `MySqlPoolLive` does (`MYSQL_URL`
 * or `MYSQL_HOST`…, `MYSQL_POOL_*`), with its flags on top, and starts a
 * throwaway MariaDB when nothing names a server. `main` runs one command
 * line and returns the process's exit code: 0 done, 1 failed (or `check`
 * found something), 2 a bad option or variable (one line naming it and
 * its value), 130 interrupted. `bin.ts` runs it with `NodeRuntime.runMain`.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import type * as CliApp from "@effect/cli/CliApp"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { MySqlPool } from "../index.js"
import * as check from "./internal/check.js"
import * as flags from "./internal/flags.js"
import * as sweep from "./internal/sweep.js"
import * as top from "./internal/top.js"
import { UsageError } from "./internal/errors.js"
import { type WorkloadName, workloadNames } from "./internal/workload.js"

/** The tool's name, as installed by the package's `bin`. @since 0.1.0 */
export const name = "effect-connection-pool"

const version = "0.1.0"

const url = Options.optional(
  flags.url(
    "url",
    "The server: mysql://user:password@host:3306/database. Default: MYSQL_URL, or MYSQL_HOST, MYSQL_PORT, MYSQL_USER, " +
      "MYSQL_PASSWORD, MYSQL_DATABASE, MYSQL_SOCKET as MySqlPoolLive reads them; with none of them, a throwaway MariaDB."
  )
)
const tls = Options.boolean("tls").pipe(
  Options.withDescription("Connect with TLS, verifying the server's certificate against the system's CAs.")
)
const maxSize = Options.optional(
  flags.wholeNumber("max-size", "The pool's maxSize. Default: MYSQL_POOL_MAX_SIZE, else 10.", 1, 10_000)
)
const minSize = Options.optional(
  flags.wholeNumber("min-size", "The pool's minSize. Default: MYSQL_POOL_MIN_SIZE, else 1.", 0, 10_000)
)
const callers = (fallback: number) =>
  flags.wholeNumber("callers", `Concurrent callers running the workload. Default ${fallback}.`, 1, 10_000).pipe(
    Options.withDefault(fallback)
  )
const workload = Options.optional(flags.oneOf(
  "workload",
  "select1: SELECT 1; point-select: primary-key SELECTs on a table of 1,000 rows made for the run (and dropped); " +
    "mixed: 9 such SELECTs to 1 UPDATE. Default select1.",
  workloadNames
))
const sql = Options.optional(flags.statement("sql", "Run this statement instead of a built-in workload."))

/** `--workload` (default select1), unless `--sql` replaces it; both at once is a usage error. */
const chosenWorkload = (options: {
  readonly workload: Option.Option<WorkloadName>
  readonly sql: Option.Option<string>
}): Effect.Effect<WorkloadName, UsageError> =>
  Option.isSome(options.workload) && Option.isSome(options.sql) ?
    Effect.fail(
      new UsageError({
        option: "--sql",
        value: options.sql.value,
        message: `${flags.badValue("--sql", options.sql.value, "no --workload beside it (it replaces the workload)")} ` +
          `with --workload ${options.workload.value}`
      })
    ) :
    Effect.succeed(Option.getOrElse(options.workload, () => "select1" as const))

const second = Duration.seconds(1)
const day = Duration.days(1)

const topCommand = Command.make(
  "top",
  {
    url,
    tls,
    callers: callers(16),
    maxSize,
    minSize,
    workload,
    sql,
    duration: Options.optional(
      flags.duration("duration", "Stop after this long (10s, 2m). Default: until q or Ctrl-C.", {
        min: Duration.millis(100),
        max: day
      })
    ),
    interval: flags.duration("interval", "Redraw (or print a line) this often. Default 1s.", {
      min: Duration.millis(100),
      max: Duration.minutes(1)
    }).pipe(Options.withDefault(second))
  },
  (options) => Effect.flatMap(chosenWorkload(options), (w) => Effect.scoped(top.run({ ...options, workload: w })))
).pipe(
  Command.withDescription(
    "A live console for a pool under a workload: connections idle / in use / opening against maxSize, waiting callers, " +
      "statements per second, wait and statement latency, errors by type, pool events. Keys: q quit, c clear the pool, " +
      "+/- callers. Plain lines when stdout is not a terminal."
  )
)

const sweepCommand = Command.make(
  "sweep",
  {
    url,
    tls,
    sizes: flags.sizeList("sizes", "The maxSize values to measure. Default 1,2,4,8,16,32.", 10_000).pipe(
      Options.withDefault([1, 2, 4, 8, 16, 32])
    ),
    callers: callers(64),
    workload,
    sql,
    duration: flags.duration("duration", "How long each size is measured. Default 10s.", {
      min: Duration.millis(100),
      max: Duration.hours(1)
    }).pipe(Options.withDefault(Duration.seconds(10))),
    warmup: flags.duration("warmup", "How long each size runs before it is measured. Default 2s.", {
      min: Duration.zero,
      max: Duration.hours(1)
    }).pipe(Options.withDefault(Duration.seconds(2))),
    out: flags.directory("out", "Where sweep.csv and sweep.svg are written (created if missing). Default: here.").pipe(
      Options.withDefault(".")
    )
  },
  (options) => Effect.flatMap(chosenWorkload(options), (w) => Effect.scoped(sweep.run({ ...options, workload: w })))
).pipe(
  Command.withDescription(
    "Run the workload at several pool sizes and report throughput, p50/p99 latency and the server's Threads_running " +
      "per size; writes sweep.csv and sweep.svg and names the smallest size within 5 % of the best throughput."
  )
)

const checkCommand = (exit: Ref.Ref<number>) =>
  Command.make(
    "check",
    {
      url,
      tls,
      maxSize,
      processes: flags.wholeNumber("processes", "How many processes run this pool (for max_connections). Default 1.", 1, 100_000)
        .pipe(Options.withDefault(1))
    },
    (options) => Effect.flatMap(Effect.scoped(check.run(options)), (code) => Ref.set(exit, code))
  ).pipe(
    Command.withDescription(
      "Connect as MySqlPoolLive would and report the server's version, max_connections, wait_timeout and " +
        "max_allowed_packet, with a warning where the pool's settings fight them. Exit 0: none; 1: some."
    )
  )

const root = (exit: Ref.Ref<number>) =>
  Command.make(name, {}, () => Console.log(`usage: ${name} top | sweep | check [options]   (--help for each)`)).pipe(
    Command.withDescription("A live pool console, a maxSize sweep with a chart, and a config check for MySQL pools."),
    Command.withSubcommands([topCommand, sweepCommand, checkCommand(exit)])
  )

/** Every `scheme://…` in a text, with its password masked. */
const maskUrls = (text: string): string => text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]*/gi, MySqlPool.maskUrl)

/**
 * The console with every URL's password masked in what it prints:
 * `@effect/cli` prints what it could not parse as it was given (a URL
 * without `--url` before it: `Received unknown argument: 'mysql://…'`),
 * and its `--wizard` the command line it built.
 */
const maskingConsole = (console: Console.Console): Console.Console => {
  const masked = <F extends (...args: ReadonlyArray<any>) => any>(f: F) =>
    ((...args: ReadonlyArray<unknown>) => f(...args.map((arg) => typeof arg === "string" ? maskUrls(arg) : arg))) as F
  return {
    ...console,
    log: masked(console.log),
    error: masked(console.error),
    warn: masked(console.warn),
    info: masked(console.info),
    debug: masked(console.debug),
    unsafe: {
      ...console.unsafe,
      log: masked(console.unsafe.log),
      error: masked(console.unsafe.error),
      warn: masked(console.unsafe.warn),
      info: masked(console.unsafe.info),
      debug: masked(console.unsafe.debug)
    }
  }
}

/**
 * Run one command line (`process.argv`: the node binary, the script, then
 * the arguments) and return the exit code. Errors are printed here, as one
 * line on stderr; nothing is left for the runtime to report.
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> =>
  Effect.gen(function*() {
    const exit = yield* Ref.make(0)
    const cli = Command.run(root(exit), { name, version })
    return yield* cli(argv).pipe(
      Effect.withConsole(maskingConsole(yield* Effect.console)),
      Effect.zipRight(Ref.get(exit)),
      Effect.catchAll((error) => {
        // @effect/cli has printed its own errors already.
        if (ValidationError.isValidationError(error)) return Effect.succeed(2)
        return Effect.as(Console.error(error.message), error._tag === "UsageError" ? 2 : 1)
      })
    )
  })
