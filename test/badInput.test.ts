/**
 * Bad input, table-driven: every public constructor and config path fails
 * with a typed error naming the field and the value, before anything is
 * opened, and never prints a password.
 */
import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigError, ConfigProvider, Effect, Layer } from "effect"
import { ConnectionPool, MySqlPool, MySqlPoolLive, PoolConfigError } from "../src/index.js"
import { createGenericPool, createPool } from "../src/promise/index.js"

// Never contacted: every case fails validation before a connection is opened.
const url = "mysql://app:s3cret-pw@127.0.0.1:1/test"

interface Case {
  readonly name: string
  readonly run: Effect.Effect<unknown, unknown>
  /** The field the error must name. */
  readonly field: string
  /** The typed error expected. */
  readonly tag?: "PoolConfigError" | "ConfigError"
}

const manager: ConnectionPool.ConnectionManager<object> = { create: Effect.succeed({}), dispose: () => Effect.void }
const core = (options: Record<string, unknown>) => Effect.scoped(ConnectionPool.make(manager, options as never))
const layer = (config: Record<string, unknown>) =>
  Effect.scoped(Layer.build(MySqlPool.layer({ url, ...config } as MySqlPool.MySqlPoolConfig)))
const fromEnv = (env: Record<string, string>) =>
  Effect.scoped(Layer.build(
    MySqlPoolLive.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({ MYSQL_URL: url, ...env }))))))
  ))
const promise = (options: Record<string, unknown>) => Effect.tryPromise({ try: () => createPool({ url, ...options }), catch: (e) => e })
const generic = (options: Record<string, unknown>) =>
  Effect.tryPromise({
    try: () => createGenericPool({ create: async () => ({}), dispose: async () => {} }, options),
    catch: (e) => e
  })

const cases: Array<Case> = [
  // the generic core
  { name: "core: minSize -1", run: core({ minSize: -1 }), field: "minSize" },
  { name: "core: maxSize NaN", run: core({ maxSize: NaN }), field: "maxSize" },
  { name: "core: maxSize Infinity", run: core({ maxSize: Infinity }), field: "maxSize" },
  { name: "core: minSize > maxSize", run: core({ minSize: 4, maxSize: 3 }), field: "minSize" },
  { name: "core: acquireTimeout -1", run: core({ acquireTimeout: -1 }), field: "acquireTimeout" },
  { name: "core: acquireTimeout Infinity", run: core({ acquireTimeout: Infinity }), field: "acquireTimeout" },
  { name: "core: connectTimeout 0", run: core({ connectTimeout: 0 }), field: "connectTimeout" },
  { name: "core: idleTimeout '-5 seconds'", run: core({ idleTimeout: "-5 seconds" }), field: "idleTimeout" },
  { name: "core: maxLifetime 'forever'", run: core({ maxLifetime: "forever" }), field: "maxLifetime" },
  { name: "core: keepaliveInterval NaN", run: core({ keepaliveInterval: NaN }), field: "keepaliveInterval" },
  { name: "core: unknown key maxsize", run: core({ maxsize: 3 }), field: "maxsize" },
  { name: "core: leakDetectionThreshold '1 second'", run: core({ leakDetectionThreshold: "1 second" }), field: "leakDetectionThreshold" },
  {
    name: "core: leakDetectionThreshold above maxLifetime",
    run: core({ leakDetectionThreshold: "2 hours", maxLifetime: "1 hour" }),
    field: "leakDetectionThreshold"
  },
  // MySqlPool.layer
  { name: "layer: url with http scheme", run: layer({ url: "http://app:s3cret-pw@host/db" }), field: "url" },
  { name: "layer: url that is not a URL", run: layer({ url: "localhost:3306" }), field: "url" },
  { name: "layer: url with query parameters", run: layer({ url: `${url}?ssl=true` }), field: "url" },
  { name: "layer: port 0", run: layer({ port: 0 }), field: "port" },
  { name: "layer: port 70000", run: layer({ port: 70_000 }), field: "port" },
  { name: "layer: port 3306.5", run: layer({ port: 3306.5 }), field: "port" },
  { name: "layer: port NaN", run: layer({ port: NaN }), field: "port" },
  { name: "layer: empty host", run: layer({ host: "" }), field: "host" },
  { name: "layer: database not a string", run: layer({ database: 42 }), field: "database" },
  { name: "layer: echo 'yes'", run: layer({ echo: "yes" }), field: "echo" },
  { name: "layer: resetOnRelease 1", run: layer({ resetOnRelease: 1 }), field: "resetOnRelease" },
  { name: "layer: maxSize -3", run: layer({ maxSize: -3 }), field: "maxSize" },
  { name: "layer: minSize 11 over the default maxSize 10", run: layer({ minSize: 11 }), field: "minSize" },
  { name: "layer: unknown key poolSize", run: layer({ poolSize: 5 }), field: "poolSize" },
  { name: "layer: misspelled password passwd (its value never shown)", run: layer({ passwd: "s3cret-pw" }), field: "passwd" },
  // MySqlPool.layerConfig
  {
    name: "layerConfig: unknown key from Config",
    run: Effect.scoped(Layer.build(MySqlPool.layerConfig({ url: Config.succeed(url), maxConnections: Config.succeed(5) } as never))),
    field: "maxConnections"
  },
  // MySqlPoolLive, from the environment
  { name: "env: MYSQL_URL malformed", run: fromEnv({ MYSQL_URL: "mysql//nope" }), field: "MYSQL_URL" },
  { name: "env: MYSQL_PORT not a number", run: fromEnv({ MYSQL_PORT: "abc" }), field: "MYSQL_PORT", tag: "ConfigError" },
  { name: "env: MYSQL_POOL_MAX_SIZE -1", run: fromEnv({ MYSQL_POOL_MAX_SIZE: "-1" }), field: "MYSQL_POOL_MAX_SIZE" },
  { name: "env: MYSQL_POOL_MIN_SIZE 2.5", run: fromEnv({ MYSQL_POOL_MIN_SIZE: "2.5" }), field: "MYSQL_POOL_MIN_SIZE", tag: "ConfigError" },
  {
    name: "env: min 5 > max 2",
    run: fromEnv({ MYSQL_POOL_MIN_SIZE: "5", MYSQL_POOL_MAX_SIZE: "2" }),
    field: "MYSQL_POOL_MIN_SIZE"
  },
  {
    name: "env: MYSQL_POOL_IDLE_TIMEOUT negative",
    run: fromEnv({ MYSQL_POOL_IDLE_TIMEOUT: "-5 seconds" }),
    field: "MYSQL_POOL_IDLE_TIMEOUT"
  },
  {
    name: "env: MYSQL_POOL_ACQUIRE_TIMEOUT garbage",
    run: fromEnv({ MYSQL_POOL_ACQUIRE_TIMEOUT: "soon" }),
    field: "MYSQL_POOL_ACQUIRE_TIMEOUT"
  },
  {
    name: "env: MYSQL_POOL_VALIDATE_AFTER_IDLE negative",
    run: fromEnv({ MYSQL_POOL_VALIDATE_AFTER_IDLE: "-5 seconds" }),
    field: "MYSQL_POOL_VALIDATE_AFTER_IDLE"
  },
  {
    name: "env: MYSQL_POOL_VALIDATION_TIMEOUT 0",
    run: fromEnv({ MYSQL_POOL_VALIDATION_TIMEOUT: "0 seconds" }),
    field: "MYSQL_POOL_VALIDATION_TIMEOUT"
  },
  {
    name: "env: MYSQL_POOL_CLOSE_TIMEOUT garbage",
    run: fromEnv({ MYSQL_POOL_CLOSE_TIMEOUT: "never" }),
    field: "MYSQL_POOL_CLOSE_TIMEOUT"
  },
  { name: "env: MYSQL_ECHO maybe", run: fromEnv({ MYSQL_ECHO: "maybe" }), field: "MYSQL_ECHO", tag: "ConfigError" },
  // the Promise facade
  // (an option given under aiomysql's name is named, with its value, as the caller wrote it)
  { name: "promise: maxsize -1", run: promise({ maxsize: -1 }), field: "maxsize" },
  { name: "promise: maxSize -1", run: promise({ maxSize: -1 }), field: "maxSize" },
  { name: "promise: minsize 5, maxsize 2", run: promise({ minsize: 5, maxsize: 2 }), field: "minsize" },
  { name: "promise: pool_recycle NaN", run: promise({ pool_recycle: NaN }), field: "pool_recycle" },
  { name: "promise: pool_recycle -2", run: promise({ pool_recycle: -2 }), field: "pool_recycle" },
  { name: "promise: pool_recycle '3600'", run: promise({ pool_recycle: "3600" }), field: "pool_recycle" },
  { name: "promise: minsize and minSize both", run: promise({ minsize: 1, minSize: 2 }), field: "minsize" },
  { name: "promise: db not a string", run: promise({ db: 42 }), field: "db" },
  { name: "promise: unix_socket empty", run: promise({ unix_socket: "" }), field: "unix_socket" },
  { name: "promise: autocommit false", run: promise({ autocommit: false }), field: "autocommit" },
  { name: "promise: autocommit 'yes'", run: promise({ autocommit: "yes" }), field: "autocommit" },
  { name: "promise: logLevel 'loud'", run: promise({ logLevel: "loud" }), field: "logLevel" },
  { name: "promise: unknown key", run: promise({ poolsize: 4 }), field: "poolsize" },
  { name: "promise: misspelled password pwd (its value never shown)", run: promise({ pwd: "s3cret-pw" }), field: "pwd" },
  { name: "generic: minsize 3, maxsize 1", run: generic({ minsize: 3, maxsize: 1 }), field: "minsize" },
  { name: "generic: acquireTimeout '-1 millis'", run: generic({ acquireTimeout: "-1 millis" }), field: "acquireTimeout" },
  { name: "generic: logLevel 3", run: generic({ logLevel: 3 }), field: "logLevel" },
  { name: "generic: db (a MySQL option)", run: generic({ db: "test" }), field: "db" },
  { name: "generic: autocommit (a MySQL option)", run: generic({ autocommit: true }), field: "autocommit" }
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
  it("covers at least 30 bad inputs", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  for (const c of cases) {
    it.effect(`${c.name}: a typed error naming ${c.field}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(c.run)
        const message = String((error as { message?: unknown }).message ?? error)
        if ((c.tag ?? "PoolConfigError") === "PoolConfigError") {
          expect(error).toBeInstanceOf(PoolConfigError)
          expect((error as PoolConfigError).option).toBe(c.field)
          expect(message).toContain(c.field)
        } else {
          expect(ConfigError.isConfigError(error)).toBe(true)
          expect((error as ConfigError.InvalidData).path).toEqual([c.field])
          expect(String(error)).toContain(c.field)
        }
        expect(message).not.toContain("s3cret-pw")
      }))
  }
})
