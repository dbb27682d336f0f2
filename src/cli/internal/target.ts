/**
 * Which server and which pool settings a command uses: the config
 * `MySqlPoolLive` would read (`MySqlPool.envConfig`: `MYSQL_URL` or
 * `MYSQL_HOST`…, and `MYSQL_POOL_*`), with the command-line flags on top. A
 * `--url` replaces every `MYSQL_*` connection variable (not the pool's
 * settings). With neither, a throwaway MariaDB is started for the command
 * and deleted when it ends, and the command says so.
 *
 * The password is read as `Redacted` and never printed: the target is
 * described as `user@host:port/database`.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { MySqlPool, PoolOptions } from "../../index.js"
import type { MySqlPoolConfig, PoolConfigError } from "../../index.js"
import { CommandFailed, UsageError } from "./errors.js"
import { badUrl, isMySqlUrl } from "./flags.js"
import type { WorkloadPool } from "./workload.js"

/** The flags that choose the server and size the pool. */
export interface TargetFlags {
  readonly url: Option.Option<Redacted.Redacted<string>>
  readonly tls: boolean
  readonly maxSize?: Option.Option<number> | undefined
  readonly minSize?: Option.Option<number> | undefined
}

/** The config a command runs with, and how to talk about it. */
export interface Target {
  readonly config: MySqlPoolConfig
  /** The pool's options after their checks and defaults (durations in milliseconds). */
  readonly pool: PoolOptions.ResolvedPoolOptions
  /** `user@host:port/database`, never the password. */
  readonly description: string
  readonly host: string
  /** A loopback address or a unix socket. */
  readonly local: boolean
  readonly throwaway: boolean
  /** The flag or variable an option of the config came from, for messages: `maxSize` → `--max-size`. */
  readonly optionName: (option: string) => string
}

const connectionKeys = ["url", "host", "port", "user", "password", "database", "socketPath"] as const

/** `maxSize` → `--max-size` when a flag set it, else `MYSQL_POOL_MAX_SIZE` when the environment did. */
const flagNames: Record<string, string> = { maxSize: "--max-size", minSize: "--min-size" }
const connectionEnv: Record<string, string> = {
  url: "MYSQL_URL",
  host: "MYSQL_HOST",
  port: "MYSQL_PORT",
  user: "MYSQL_USER",
  password: "MYSQL_PASSWORD",
  database: "MYSQL_DATABASE",
  socketPath: "MYSQL_SOCKET"
}
const envName = (option: string) => `MYSQL_POOL_${option.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`

const poolKeys: ReadonlySet<string> = new Set(PoolOptions.table.map((o) => o.name))

const poolPart = (config: MySqlPoolConfig): PoolOptions.PoolOptions =>
  Object.fromEntries(Object.entries(config).filter(([key]) => poolKeys.has(key))) as PoolOptions.PoolOptions

const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127\./.test(host)

/** Where the config points, read the way the MySQL layer reads it (fields beside the URL win). */
const describe = (config: MySqlPoolConfig): { description: string; host: string; local: boolean } => {
  let fromUrl: { host?: string; port?: number; user?: string; database?: string } = {}
  if (config.url !== undefined) {
    const raw = Redacted.isRedacted(config.url) ? Redacted.value(config.url) : config.url
    try {
      const u = new URL(raw)
      fromUrl = {
        host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
        ...(u.port === "" ? {} : { port: Number(u.port) }),
        ...(u.username === "" ? {} : { user: decodeURIComponent(u.username) }),
        ...(u.pathname.length > 1 ? { database: decodeURIComponent(u.pathname.slice(1)) } : {})
      }
    } catch {
      // The layer's own check reports a bad URL, with its password masked.
    }
  }
  const host = config.host ?? fromUrl.host ?? "localhost"
  const port = config.port ?? fromUrl.port ?? 3306
  const user = config.user ?? fromUrl.user
  const database = config.database ?? fromUrl.database
  const where = config.socketPath === undefined ? `${host}:${port}` : config.socketPath
  return {
    description: `${user === undefined ? "" : `${user}@`}${where}${database === undefined ? "" : `/${database}`}`,
    host,
    local: config.socketPath !== undefined || isLoopback(host)
  }
}

/**
 * The config for a command. Bad values (a flag, or a `MYSQL_*` variable)
 * fail with `UsageError` before anything is started or connected.
 */
export const resolveTarget = (
  flags: TargetFlags
): Effect.Effect<Target, UsageError | CommandFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const env = yield* Effect.mapError(MySqlPool.envConfig, (error) => {
      const message = String(error).replace(/^\(|\)$/g, "")
      return new UsageError({ option: /\bat ([A-Z_]+)/.exec(message)?.[1] ?? "environment", value: "", message })
    })
    // Checked here too (not only by the layer) so that a password with a raw `@` is masked whole.
    if (Option.isNone(flags.url) && env.url !== undefined) {
      const raw = Redacted.isRedacted(env.url) ? Redacted.value(env.url) : env.url
      if (!isMySqlUrl(raw)) {
        return yield* new UsageError({ option: "MYSQL_URL", value: MySqlPool.maskUrl(raw), message: badUrl("MYSQL_URL", raw) })
      }
    }
    const envConnection = connectionKeys.some((key) => env[key] !== undefined)
    const flagSizes: { maxSize?: number; minSize?: number } = {}
    if (flags.maxSize !== undefined && Option.isSome(flags.maxSize)) flagSizes.maxSize = flags.maxSize.value
    if (flags.minSize !== undefined && Option.isSome(flags.minSize)) flagSizes.minSize = flags.minSize.value
    const withoutConnection = Object.fromEntries(
      Object.entries(env).filter(([key]) => !(connectionKeys as ReadonlyArray<string>).includes(key))
    ) as MySqlPoolConfig
    const base: MySqlPoolConfig = Option.isSome(flags.url) ?
      { ...withoutConnection, url: flags.url.value } :
      envConnection ?
      env :
      withoutConnection
    const draft: MySqlPoolConfig = { ...base, ...flagSizes, ...(flags.tls ? { ssl: {} } : {}) }
    // An error names what the user set: the flag, else the variable.
    const optionName = (option: string): string =>
      option in flagSizes ? flagNames[option]! : option === "url" && Option.isSome(flags.url) ?
        "--url" :
        connectionEnv[option] ?? envName(option)

    const pool = yield* Effect.mapError(PoolOptions.resolve(poolPart(draft)), (error) => badConfig(error, optionName))

    if (Option.isSome(flags.url) || envConnection) {
      return { config: draft, pool, optionName, throwaway: false, ...describe(draft) }
    }
    yield* Console.log("no --url and no MYSQL_* connection variables: starting a throwaway MariaDB (deleted on exit)…")
    // Loaded only when needed, like the server itself.
    const { start } = yield* Effect.promise(() => import("../../testing/index.js"))
    const server = yield* Effect.mapError(start(), (error) => new CommandFailed({ message: error.message }))
    const config: MySqlPoolConfig = { ...draft, url: Redacted.make(server.url) }
    yield* Console.log(`throwaway MariaDB ready on 127.0.0.1:${server.port}`)
    return { config, pool, optionName, throwaway: true, ...describe(config) }
  })

/**
 * `MySqlPool.make` on the target's config (with `overrides`), bound to the
 * scope: a config the layer rejects is a `UsageError`, a server that cannot
 * be reached or refuses the login a `CommandFailed` in the server's words.
 */
export const connect = (
  target: Target,
  overrides: MySqlPoolConfig = {}
): Effect.Effect<WorkloadPool, UsageError | CommandFailed, Scope.Scope> =>
  MySqlPool.make({ ...target.config, ...overrides }).pipe(
    Effect.mapError((error) =>
      error._tag === "PoolConfigError" ?
        badConfig(error, target.optionName) :
        new CommandFailed({ message: `cannot connect to ${target.description}: ${error.message}` })
    )
  )

/** A `PoolConfigError` as the one line the user sees (its value is already masked where it is secret). */
const badConfig = (error: PoolConfigError, optionName: (option: string) => string): UsageError => {
  const option = optionName(error.option)
  const value = String(error.value)
  return new UsageError({ option, value, message: `${option}: expected ${error.expected}, got ${JSON.stringify(value)}` })
}
