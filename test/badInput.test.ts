/**
 * Bad input, table-driven: every public constructor and config path fails
 * with a typed error naming the field and the value, before anything is
 * opened, and never prints a password.
 */
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigError, ConfigProvider, Duration, Effect, Layer } from "effect"
import { ConnectionPool, MySqlPool, MySqlPoolLive, PoolConfigError, PoolOptions } from "../src/index.js"
import { resolveConfig } from "../src/mysql/internal/config.js"
import { envVariables, readEnvironment } from "../src/mysql/internal/options.js"
import { createGenericPool, createKeyedPool, createPool } from "../src/promise/index.js"

// Never contacted: every case fails validation before a connection is opened.
const url = "mysql://app:s3cret-pw@127.0.0.1:1/test"

/** A password whose every fragment (between `/`, `@`, `%`, `:`, `?`, `#`) is text no message has of its own. */
const pw = (separator: string) => `Xq7${separator}Zk9`
const fragments = ["Xq7", "Zk9"]

interface Case {
  readonly name: string
  readonly run: Effect.Effect<unknown, unknown>
  /** The field the error must name. */
  readonly field: string
  /** The value the error must carry, as the caller wrote it (URLs: with the password masked). */
  readonly value: unknown
  /** The typed error expected. */
  readonly tag?: "PoolConfigError" | "ConfigError"
  /** Words the error's `expected` must have: the problem named, not only the field. */
  readonly expects?: string
  /** For a `PoolConfigError` from text of the wrong kind: its `ConfigError` cause. */
  readonly configCause?: true
}

const manager: ConnectionPool.ConnectionManager<object> = { create: Effect.succeed({}), dispose: () => Effect.void }
const core = (options: Record<string, unknown>) => Effect.scoped(ConnectionPool.make(manager, options as never))
const layer = (config: Record<string, unknown>) =>
  Effect.scoped(Layer.build(MySqlPool.layer({ url, ...config } as MySqlPool.MySqlPoolConfig)))
const provider = (env: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(env)))
const fromEnv = (env: Record<string, string>) =>
  Effect.scoped(Layer.build(MySqlPoolLive.pipe(Layer.provide(Layer.setConfigProvider(provider({ MYSQL_URL: url, ...env }))))))
const envConfig = (env: Record<string, string>) => Effect.withConfigProvider(MySqlPool.envConfig, provider(env))
const promise = (options: Record<string, unknown>) => Effect.tryPromise({ try: () => createPool({ url, ...options }), catch: (e) => e })
const generic = (options: Record<string, unknown>) =>
  Effect.tryPromise({
    try: () => createGenericPool({ create: async () => ({}), dispose: async () => {} }, options),
    catch: (e) => e
  })
const keyed = (options: Record<string, unknown>) =>
  Effect.tryPromise({
    try: () => createKeyedPool({ create: async (key: string) => ({ key }), dispose: async () => {} }, options),
    catch: (e) => e
  })

const tooLong = "25 days" // past 2^31-1 ms: Node's timers would fire it after 1 ms

const cases: Array<Case> = [
  // the generic core
  { name: "core: minSize -1", run: core({ minSize: -1 }), field: "minSize", value: -1 },
  { name: "core: maxSize NaN", run: core({ maxSize: NaN }), field: "maxSize", value: NaN },
  { name: "core: maxSize Infinity", run: core({ maxSize: Infinity }), field: "maxSize", value: Infinity },
  { name: "core: minSize > maxSize", run: core({ minSize: 4, maxSize: 3 }), field: "minSize", value: 4 },
  { name: "core: acquireTimeout -1", run: core({ acquireTimeout: -1 }), field: "acquireTimeout", value: -1 },
  { name: "core: acquireTimeout Infinity", run: core({ acquireTimeout: Infinity }), field: "acquireTimeout", value: Infinity },
  { name: "core: connectTimeout 0", run: core({ connectTimeout: 0 }), field: "connectTimeout", value: 0 },
  { name: "core: idleTimeout '-5 seconds'", run: core({ idleTimeout: "-5 seconds" }), field: "idleTimeout", value: "-5 seconds" },
  { name: "core: maxLifetime 'forever'", run: core({ maxLifetime: "forever" }), field: "maxLifetime", value: "forever" },
  { name: "core: keepaliveInterval NaN", run: core({ keepaliveInterval: NaN }), field: "keepaliveInterval", value: NaN },
  { name: "core: unknown key maxsize", run: core({ maxsize: 3 }), field: "maxsize", value: 3 },
  {
    name: "core: leakDetectionThreshold '1 second'",
    run: core({ leakDetectionThreshold: "1 second" }),
    field: "leakDetectionThreshold",
    value: "1 second"
  },
  {
    name: "core: leakDetectionThreshold above maxLifetime",
    run: core({ leakDetectionThreshold: "2 hours", maxLifetime: "1 hour" }),
    field: "leakDetectionThreshold",
    value: "2 hours"
  },
  // durations past what timers hold, every duration option
  { name: "core: acquireTimeout 25 days", run: core({ acquireTimeout: tooLong }), field: "acquireTimeout", value: tooLong, expects: "2147483647 ms" },
  { name: "core: connectTimeout 2^31 ms", run: core({ connectTimeout: 2 ** 31 }), field: "connectTimeout", value: 2 ** 31, expects: "2147483647 ms" },
  { name: "core: maxLifetime 25 days", run: core({ maxLifetime: tooLong }), field: "maxLifetime", value: tooLong, expects: "2147483647 ms" },
  {
    name: "core: idleTimeout Duration.days(30)",
    run: core({ idleTimeout: Duration.days(30) }),
    field: "idleTimeout",
    value: Duration.days(30), expects: "2147483647 ms"
  },
  {
    name: "core: validateAfterIdle 2^31 ms",
    run: core({ validateAfterIdle: 2 ** 31 }),
    field: "validateAfterIdle",
    value: 2 ** 31, expects: "2147483647 ms"
  },
  { name: "core: validationTimeout 25 days", run: core({ validationTimeout: tooLong }), field: "validationTimeout", value: tooLong, expects: "2147483647 ms" },
  { name: "core: keepaliveInterval 4 weeks", run: core({ keepaliveInterval: "4 weeks" }), field: "keepaliveInterval", value: "4 weeks", expects: "2147483647 ms" },
  { name: "core: closeTimeout 25 days", run: core({ closeTimeout: tooLong }), field: "closeTimeout", value: tooLong, expects: "2147483647 ms" },
  {
    name: "core: leakDetectionThreshold 25 days (maxLifetime 0)",
    run: core({ leakDetectionThreshold: tooLong, maxLifetime: 0 }),
    field: "leakDetectionThreshold",
    value: tooLong, expects: "2147483647 ms"
  },
  // MySqlPool.layer
  { name: "layer: url with http scheme", run: layer({ url: "http://app:s3cret-pw@host/db" }), field: "url", value: "http://app:***@host/db" },
  { name: "layer: url that is not a URL", run: layer({ url: "localhost:3306" }), field: "url", value: "localhost:3306" },
  { name: "layer: url with query parameters", run: layer({ url: `${url}?ssl=true` }), field: "url", value: "mysql://app:***@127.0.0.1:1/test?ssl=true" },
  { name: "layer: url with an IPv6 host and query parameters (no password, shown whole)", run: layer({ url: "mysql://[::1]:1/test?ssl=true" }), field: "url", value: "mysql://[::1]:1/test?ssl=true" },
  { name: "layer: url mysql:// (no host)", run: layer({ url: "mysql://" }), field: "url", value: "mysql://", expects: "with a host" },
  { name: "layer: url mysql:///test (no host)", run: layer({ url: "mysql:///test" }), field: "url", value: "mysql:///test", expects: "with a host" },
  {
    name: "layer: url with user and password but no host",
    run: layer({ url: `mysql://app:${pw("@")}@/test` }),
    field: "url",
    value: "mysql://app:***@/test", expects: "with a host"
  },
  {
    name: "layer: url with user and password, the @ and host forgotten",
    run: layer({ url: `mysql://app:${pw("/")}` }),
    field: "url",
    value: "mysql://app:***"
  },
  {
    name: "layer: url, an unencoded / in the password",
    run: layer({ url: `mysql://app:${pw("/")}@127.0.0.1:1/test` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test", expects: "%2F"
  },
  {
    name: "layer: url, an unencoded / after a numeric start of the password (would parse as host app, port 1234)",
    run: layer({ url: "mysql://app:1234/Zk9@127.0.0.1:1/test" }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test", expects: "%2F"
  },
  {
    name: "layer: url, an unencoded @ in the password, and a query",
    run: layer({ url: `mysql://app:${pw("@")}@127.0.0.1:1/test?ssl=1` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test?ssl=1"
  },
  {
    name: "layer: url, a stray % in the password (no URIError)",
    run: layer({ url: `mysql://app:${pw("%")}@127.0.0.1:1/test` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test", expects: "%25"
  },
  {
    name: "layer: url, a : in the password, and a fragment",
    run: layer({ url: `mysql://app:${pw(":")}@127.0.0.1:1/test#x` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test#x"
  },
  {
    name: "layer: url, an unencoded ? in the password",
    run: layer({ url: `mysql://app:${pw("?")}@127.0.0.1:1/test` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test"
  },
  {
    name: "layer: url, an unencoded # in the password",
    run: layer({ url: `mysql://app:${pw("#")}@127.0.0.1:1/test` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test"
  },
  {
    name: "layer: url without a scheme",
    run: layer({ url: `app:${pw("/")}@127.0.0.1:1/test` }),
    field: "url",
    value: "app:***@127.0.0.1:1/test"
  },
  {
    name: "layer: url, a stray % in the database",
    run: layer({ url: "mysql://app@127.0.0.1:1/te%st" }),
    field: "url",
    value: "mysql://app@127.0.0.1:1/te%st", expects: "%25"
  },
  { name: "layer: port 0", run: layer({ port: 0 }), field: "port", value: 0 },
  { name: "layer: port 70000", run: layer({ port: 70_000 }), field: "port", value: 70_000 },
  { name: "layer: port 3306.5", run: layer({ port: 3306.5 }), field: "port", value: 3306.5 },
  { name: "layer: port NaN", run: layer({ port: NaN }), field: "port", value: NaN },
  { name: "layer: empty host", run: layer({ host: "" }), field: "host", value: "" },
  { name: "layer: database not a string", run: layer({ database: 42 }), field: "database", value: 42 },
  { name: "layer: echo 'yes'", run: layer({ echo: "yes" }), field: "echo", value: "yes" },
  { name: "layer: resetOnRelease 1", run: layer({ resetOnRelease: 1 }), field: "resetOnRelease", value: 1 },
  { name: "layer: maxSize -3", run: layer({ maxSize: -3 }), field: "maxSize", value: -3 },
  { name: "layer: connectTimeout 25 days (mysql2's own timer)", run: layer({ connectTimeout: tooLong }), field: "connectTimeout", value: tooLong, expects: "2147483647 ms" },
  { name: "layer: minSize 11 over the default maxSize 10", run: layer({ minSize: 11 }), field: "minSize", value: 11 },
  { name: "layer: unknown key poolSize", run: layer({ poolSize: 5 }), field: "poolSize", value: 5 },
  {
    name: "layer: misspelled password passwd (its value never shown)",
    run: layer({ passwd: "s3cret-pw" }),
    field: "passwd",
    value: "<redacted>"
  },
  // MySqlPool.layerConfig
  {
    name: "layerConfig: unknown key from Config",
    run: Effect.scoped(Layer.build(MySqlPool.layerConfig({ url: Config.succeed(url), maxConnections: Config.succeed(5) } as never))),
    field: "maxConnections",
    value: 5
  },
  // MySqlPoolLive, from the environment: one error type, naming the variable
  { name: "env: MYSQL_URL malformed", run: fromEnv({ MYSQL_URL: "mysql//nope" }), field: "MYSQL_URL", value: "mysql//nope" },
  { name: "env: MYSQL_URL mysql:// (no host)", run: fromEnv({ MYSQL_URL: "mysql://" }), field: "MYSQL_URL", value: "mysql://", expects: "with a host" },
  { name: "env: MYSQL_URL mysql:///test (no host)", run: fromEnv({ MYSQL_URL: "mysql:///test" }), field: "MYSQL_URL", value: "mysql:///test", expects: "with a host" },
  {
    name: "env: MYSQL_URL with an unencoded @ in the password and a query",
    run: fromEnv({ MYSQL_URL: `mysql://app:${pw("@")}@127.0.0.1:1/test?ssl=1` }),
    field: "MYSQL_URL",
    value: "mysql://app:***@127.0.0.1:1/test?ssl=1"
  },
  {
    name: "env: MYSQL_URL with a stray % in the password",
    run: fromEnv({ MYSQL_URL: `mysql://app:${pw("%")}@127.0.0.1:1/test` }),
    field: "MYSQL_URL",
    value: "mysql://app:***@127.0.0.1:1/test", expects: "%25"
  },
  { name: "env: MYSQL_PORT not a number", run: fromEnv({ MYSQL_PORT: "abc" }), field: "MYSQL_PORT", value: "abc", configCause: true },
  { name: "env: MYSQL_PORT 0", run: fromEnv({ MYSQL_PORT: "0" }), field: "MYSQL_PORT", value: 0 },
  { name: "env: MYSQL_POOL_MAX_SIZE abc", run: fromEnv({ MYSQL_POOL_MAX_SIZE: "abc" }), field: "MYSQL_POOL_MAX_SIZE", value: "abc", configCause: true },
  { name: "env: MYSQL_POOL_MAX_SIZE -1", run: fromEnv({ MYSQL_POOL_MAX_SIZE: "-1" }), field: "MYSQL_POOL_MAX_SIZE", value: -1 },
  { name: "env: MYSQL_POOL_MAX_SIZE 1e3", run: fromEnv({ MYSQL_POOL_MAX_SIZE: "1e3" }), field: "MYSQL_POOL_MAX_SIZE", value: "1e3", configCause: true },
  { name: "env: MYSQL_POOL_MIN_SIZE 2.5", run: fromEnv({ MYSQL_POOL_MIN_SIZE: "2.5" }), field: "MYSQL_POOL_MIN_SIZE", value: "2.5", configCause: true },
  {
    name: "env: min 5 > max 2",
    run: fromEnv({ MYSQL_POOL_MIN_SIZE: "5", MYSQL_POOL_MAX_SIZE: "2" }),
    field: "MYSQL_POOL_MIN_SIZE",
    value: 5
  },
  {
    name: "env: MYSQL_POOL_IDLE_TIMEOUT negative",
    run: fromEnv({ MYSQL_POOL_IDLE_TIMEOUT: "-5 seconds" }),
    field: "MYSQL_POOL_IDLE_TIMEOUT",
    value: "-5 seconds"
  },
  {
    name: "env: MYSQL_POOL_ACQUIRE_TIMEOUT garbage",
    run: fromEnv({ MYSQL_POOL_ACQUIRE_TIMEOUT: "soon" }),
    field: "MYSQL_POOL_ACQUIRE_TIMEOUT",
    value: "soon"
  },
  {
    name: "env: MYSQL_POOL_ACQUIRE_TIMEOUT 25 days",
    run: fromEnv({ MYSQL_POOL_ACQUIRE_TIMEOUT: tooLong }),
    field: "MYSQL_POOL_ACQUIRE_TIMEOUT",
    value: tooLong, expects: "2147483647 ms"
  },
  {
    name: "env: MYSQL_POOL_CONNECT_TIMEOUT 2147483648 (milliseconds)",
    run: fromEnv({ MYSQL_POOL_CONNECT_TIMEOUT: "2147483648" }),
    field: "MYSQL_POOL_CONNECT_TIMEOUT",
    value: 2 ** 31, expects: "2147483647 ms"
  },
  {
    name: "env: MYSQL_POOL_VALIDATE_AFTER_IDLE negative",
    run: fromEnv({ MYSQL_POOL_VALIDATE_AFTER_IDLE: "-5 seconds" }),
    field: "MYSQL_POOL_VALIDATE_AFTER_IDLE",
    value: "-5 seconds"
  },
  {
    name: "env: MYSQL_POOL_VALIDATION_TIMEOUT 0",
    run: fromEnv({ MYSQL_POOL_VALIDATION_TIMEOUT: "0 seconds" }),
    field: "MYSQL_POOL_VALIDATION_TIMEOUT",
    value: "0 seconds"
  },
  {
    name: "env: MYSQL_POOL_CLOSE_TIMEOUT garbage",
    run: fromEnv({ MYSQL_POOL_CLOSE_TIMEOUT: "never" }),
    field: "MYSQL_POOL_CLOSE_TIMEOUT",
    value: "never"
  },
  {
    name: "env: MYSQL_POOL_LEAK_DETECTION_THRESHOLD 1 second",
    run: fromEnv({ MYSQL_POOL_LEAK_DETECTION_THRESHOLD: "1 second" }),
    field: "MYSQL_POOL_LEAK_DETECTION_THRESHOLD",
    value: "1 second"
  },
  { name: "env: MYSQL_POOL_METRICS sometimes", run: fromEnv({ MYSQL_POOL_METRICS: "sometimes" }), field: "MYSQL_POOL_METRICS", value: "sometimes", configCause: true },
  { name: "env: MYSQL_POOL_RESET sometimes", run: fromEnv({ MYSQL_POOL_RESET: "sometimes" }), field: "MYSQL_POOL_RESET", value: "sometimes" },
  { name: "env: MYSQL_ECHO maybe", run: fromEnv({ MYSQL_ECHO: "maybe" }), field: "MYSQL_ECHO", value: "maybe", configCause: true },
  // MySqlPool.envConfig itself is a Config: text of the wrong kind is its ConfigError, naming the variable
  { name: "envConfig: MYSQL_POOL_MAX_SIZE abc", run: envConfig({ MYSQL_POOL_MAX_SIZE: "abc" }), field: "MYSQL_POOL_MAX_SIZE", value: "abc", tag: "ConfigError" },
  { name: "envConfig: MYSQL_PORT 3306x", run: envConfig({ MYSQL_PORT: "3306x" }), field: "MYSQL_PORT", value: "3306x", tag: "ConfigError" },
  // the Promise facade
  // (an option given under aiomysql's name is named, with its value, as the caller wrote it)
  { name: "promise: maxsize -1", run: promise({ maxsize: -1 }), field: "maxsize", value: -1 },
  { name: "promise: maxSize -1", run: promise({ maxSize: -1 }), field: "maxSize", value: -1 },
  { name: "promise: minsize 5, maxsize 2", run: promise({ minsize: 5, maxsize: 2 }), field: "minsize", value: 5 },
  { name: "promise: pool_recycle NaN", run: promise({ pool_recycle: NaN }), field: "pool_recycle", value: NaN },
  { name: "promise: pool_recycle -2", run: promise({ pool_recycle: -2 }), field: "pool_recycle", value: -2 },
  { name: "promise: pool_recycle 0 (aiomysql: recycle at every acquire)", run: promise({ pool_recycle: 0 }), field: "pool_recycle", value: 0, expects: "-1 for never" },
  { name: "promise: pool_recycle '3600'", run: promise({ pool_recycle: "3600" }), field: "pool_recycle", value: "3600" },
  { name: "promise: pool_recycle 3e6 seconds (past 24.8 days)", run: promise({ pool_recycle: 3e6 }), field: "pool_recycle", value: 3e6, expects: "2147483647 ms" },
  { name: "promise: maxLifetime 25 days", run: promise({ maxLifetime: tooLong }), field: "maxLifetime", value: tooLong },
  { name: "promise: minsize and minSize both", run: promise({ minsize: 1, minSize: 2 }), field: "minsize", value: 1 },
  { name: "promise: db not a string", run: promise({ db: 42 }), field: "db", value: 42 },
  { name: "promise: db empty", run: promise({ db: "" }), field: "db", value: "" },
  { name: "promise: unix_socket empty", run: promise({ unix_socket: "" }), field: "unix_socket", value: "" },
  { name: "promise: url mysql:///test (no host)", run: promise({ url: "mysql:///test" }), field: "url", value: "mysql:///test", expects: "with a host" },
  {
    name: "promise: url, an unencoded @ in the password, and a query",
    run: promise({ url: `mysql://app:${pw("@")}@127.0.0.1:1/test?x=1` }),
    field: "url",
    value: "mysql://app:***@127.0.0.1:1/test?x=1"
  },
  { name: "promise: autocommit false", run: promise({ autocommit: false }), field: "autocommit", value: false },
  { name: "promise: autocommit 'yes'", run: promise({ autocommit: "yes" }), field: "autocommit", value: "yes" },
  { name: "promise: logLevel 'loud'", run: promise({ logLevel: "loud" }), field: "logLevel", value: "loud" },
  { name: "promise: unknown key", run: promise({ poolsize: 4 }), field: "poolsize", value: 4 },
  { name: "promise: misspelled password pwd (its value never shown)", run: promise({ pwd: "s3cret-pw" }), field: "pwd", value: "<redacted>" },
  { name: "generic: minsize 3, maxsize 1", run: generic({ minsize: 3, maxsize: 1 }), field: "minsize", value: 3 },
  { name: "generic: acquireTimeout '-1 millis'", run: generic({ acquireTimeout: "-1 millis" }), field: "acquireTimeout", value: "-1 millis" },
  { name: "generic: pool_recycle 3e6 seconds", run: generic({ pool_recycle: 3e6 }), field: "pool_recycle", value: 3e6 },
  { name: "generic: logLevel 3", run: generic({ logLevel: 3 }), field: "logLevel", value: 3 },
  { name: "generic: db (a MySQL option)", run: generic({ db: "test" }), field: "db", value: "<redacted>" },
  { name: "generic: autocommit (a MySQL option)", run: generic({ autocommit: true }), field: "autocommit", value: true },
  { name: "keyed: maxsize -1", run: keyed({ maxsize: -1 }), field: "maxsize", value: -1 },
  { name: "keyed: minsize 3, maxsize 1", run: keyed({ minsize: 3, maxsize: 1 }), field: "minsize", value: 3 },
  { name: "keyed: maxsize 200 over the default totalMaxSize 100", run: keyed({ maxsize: 200 }), field: "maxsize", value: 200 },
  { name: "keyed: totalMaxSize -1", run: keyed({ totalMaxSize: -1 }), field: "totalMaxSize", value: -1 },
  { name: "keyed: idleTimeout 25 days", run: keyed({ idleTimeout: tooLong }), field: "idleTimeout", value: tooLong, expects: "2147483647 ms" },
  { name: "keyed: pool_recycle '1 hour'", run: keyed({ pool_recycle: "1 hour" }), field: "pool_recycle", value: "1 hour" },
  { name: "keyed: unknown key max_size", run: keyed({ max_size: 4 }), field: "max_size", value: 4 },
  { name: "keyed: db (a MySQL option)", run: keyed({ db: "test" }), field: "db", value: "<redacted>" }
]

describe("the Promise facade's unknown-option error", () => {
  it.effect("lists aiomysql's names beside the camelCase ones", () =>
    Effect.gen(function*() {
      const mysql = (yield* Effect.flip(promise({ poolsize: 4 }))) as PoolConfigError
      for (const name of ["minsize", "maxsize", "pool_recycle", "db", "unix_socket", "autocommit", "logLevel", "maxSize", "host"]) {
        expect(mysql.expected).toContain(name)
      }
      const pool = (yield* Effect.flip(generic({ poolsize: 4 }))) as PoolConfigError
      for (const name of ["minsize", "maxsize", "pool_recycle", "logLevel", "maxSize", "acquireTimeout"]) {
        expect(pool.expected).toContain(name)
      }
      expect(pool.expected).not.toContain("unix_socket")
    }))

  it.effect("the value shown is the one written: pool_recycle NaN, not NaN seconds", () =>
    Effect.gen(function*() {
      const error = (yield* Effect.flip(promise({ maxsize: -1 }))) as PoolConfigError
      expect([error.option, error.value]).toEqual(["maxsize", -1])
      expect(error.message).toMatch(/^Invalid pool option maxsize: -1 /)
    }))
})

describe("bad input", () => {
  it("covers at least 60 bad inputs", () => {
    expect(cases.length).toBeGreaterThanOrEqual(60)
  })

  for (const c of cases) {
    it.effect(`${c.name}: a typed error naming ${c.field} and its value`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(c.run)
        const message = String((error as { message?: unknown }).message ?? error)
        if ((c.tag ?? "PoolConfigError") === "PoolConfigError") {
          expect(error).toBeInstanceOf(PoolConfigError)
          const config = error as PoolConfigError
          expect(config.option).toBe(c.field)
          expect(config.value).toEqual(c.value)
          expect(message).toContain(c.field)
          if (c.expects !== undefined) expect(config.expected).toContain(c.expects)
          if (c.configCause) {
            expect(ConfigError.isConfigError(config.cause)).toBe(true)
            expect((config.cause as ConfigError.InvalidData).path).toEqual([c.field])
          }
        } else {
          expect(ConfigError.isConfigError(error)).toBe(true)
          expect((error as ConfigError.InvalidData).path).toEqual([c.field])
          expect(String(error)).toContain(c.field)
          expect(String(error)).toContain(JSON.stringify(c.value))
        }
        // Nothing of any password: the message, the value and the cause.
        const shown = [message, String(error), JSON.stringify((error as { value?: unknown }).value) ?? "", String((error as { cause?: unknown }).cause ?? "")]
        for (const text of shown) {
          for (const secret of ["s3cret-pw", ...fragments]) expect(text).not.toContain(secret)
        }
      }))
  }
})

/** What `MySqlPoolLive` makes of an environment, short of connecting: the variables read, then checked and resolved. */
const resolvedFromEnv = (env: Record<string, string>) =>
  Effect.flatMap(Effect.withConfigProvider(readEnvironment, provider(env)), resolveConfig)

describe("settings that are accepted, and mean what they say", () => {
  it.effect("an empty variable is not set: MYSQL_POOL_MAX_SIZE= keeps the default 10, not 0 (unlimited)", () =>
    Effect.gen(function*() {
      const resolved = yield* resolvedFromEnv({ MYSQL_URL: url, MYSQL_POOL_MAX_SIZE: "", MYSQL_POOL_MIN_SIZE: "  " })
      expect([resolved.pool.maxSize, resolved.pool.minSize]).toEqual([10, 1])
    }))

  it.effect("every MYSQL_* and MYSQL_POOL_* variable empty is every default", () =>
    Effect.gen(function*() {
      const empty = Object.fromEntries(envVariables.map((v) => [v.variable, ""]))
      expect(yield* envConfig(empty)).toEqual({})
      const resolved = yield* resolvedFromEnv({ ...empty, MYSQL_URL: url })
      expect({ ...resolved.pool, name: undefined }).toEqual({ ...PoolOptions.defaults, name: undefined })
      expect(resolved.connect.reset).toBe("auto")
      expect(resolved.connect.echo).toBe(false)
    }))

  it.effect("environment durations: a number of milliseconds or a duration's words, up to 2^31-1 ms", () =>
    Effect.gen(function*() {
      const resolved = yield* resolvedFromEnv({
        MYSQL_URL: url,
        MYSQL_POOL_ACQUIRE_TIMEOUT: "5000",
        MYSQL_POOL_CONNECT_TIMEOUT: " 5 seconds ",
        MYSQL_POOL_CLOSE_TIMEOUT: "2147483647",
        MYSQL_POOL_MAX_LIFETIME: "24 days"
      })
      expect(resolved.pool).toMatchObject({ acquireTimeout: 5000, connectTimeout: 5000, closeTimeout: 2 ** 31 - 1, maxLifetime: 24 * 86_400_000 })
    }))

  it.effect("MYSQL_PASSWORD is taken as it is, spaces and all", () =>
    Effect.gen(function*() {
      const resolved = yield* resolvedFromEnv({ MYSQL_HOST: "127.0.0.1", MYSQL_PASSWORD: " p w " })
      expect(resolved.connect.connection.password).toBe(" p w ")
    }))

  it.effect("a password with / @ % : ? # percent-encoded in the URL reaches the server whole", () =>
    Effect.gen(function*() {
      const resolved = yield* resolveConfig({ url: "mysql://app:Xq7%2F%40%25%3A%3F%23Zk9@127.0.0.1:1/test" })
      expect(resolved.connect.connection).toMatchObject({ host: "127.0.0.1", port: 1, user: "app", password: "Xq7/@%:?#Zk9", database: "test" })
    }))

  it.effect("an unencoded : or @ in the password is still read whole (the host is after the last @)", () =>
    Effect.gen(function*() {
      for (const password of ["Xq7:Zk9", "Xq7@Zk9"]) {
        const resolved = yield* resolveConfig({ url: `mysql://app:${password}@127.0.0.1:1/test` })
        expect(resolved.connect.connection).toMatchObject({ host: "127.0.0.1", password, database: "test" })
      }
    }))

  it.effect("a URL without a host is taken when host or socketPath is given beside it", () =>
    Effect.gen(function*() {
      const viaSocket = yield* resolveConfig({ url: "mysql:///test", socketPath: "/run/mysqld/mysqld.sock" })
      expect(viaSocket.connect.connection).toMatchObject({ socketPath: "/run/mysqld/mysqld.sock", database: "test" })
      const viaHost = yield* resolvedFromEnv({ MYSQL_URL: "mysql:///test", MYSQL_USER: "app", MYSQL_HOST: "db.internal" })
      expect(viaHost.connect.connection).toMatchObject({ host: "db.internal", user: "app", database: "test" })
    }))

  it.effect("a duration of exactly 2^31-1 ms is the longest accepted", () =>
    Effect.gen(function*() {
      const resolved = yield* PoolOptions.resolve({ acquireTimeout: 2 ** 31 - 1, keepaliveInterval: "24 days" })
      expect(resolved).toMatchObject({ acquireTimeout: 2 ** 31 - 1, keepaliveInterval: 24 * 86_400_000 })
    }))
})
