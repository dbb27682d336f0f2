/**
 * Checking the managers' options and the keyed managers' keys. One check per
 * field, shared by both: a constructor turns a rejection into a
 * `PoolConfigError` before anything is opened; a keyed `create` turns a bad
 * key into a `SocketError` (`EINVAL`) for that key alone.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** A field that failed its check: what `PoolConfigError` (or `SocketError`) reports. */
export class Rejection {
  constructor(readonly field: string, readonly value: unknown, readonly expected: string) {}
}

/** The managers' defaults, in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT_MILLIS = 10_000
export const DEFAULT_KEEPALIVE_MILLIS = 60_000

/** Options every TCP-based manager shares, resolved. */
export interface ResolvedSocketOptions {
  readonly noDelay: boolean
  /** Idle time before the first keepalive probe; 0 = keepalive off. */
  readonly keepAliveMillis: number
  readonly connectTimeoutMillis: number
}

export const checkHost = (host: unknown): Rejection | string =>
  typeof host === "string" && host.trim() !== "" ? host : new Rejection("host", host, "a non-empty string")

export const checkPort = (port: unknown): Rejection | number =>
  typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65_535 ?
    port :
    new Rejection("port", port, "a whole number from 1 to 65535")

export const checkPath = (path: unknown): Rejection | string =>
  typeof path === "string" && path !== "" && !path.includes("\0") ?
    path :
    new Rejection("path", path, "a non-empty path without NUL characters")

/** A finite duration > 0 in milliseconds; negatives and NaN are rejected (Duration.decode would clamp them to 0). */
const positiveMillis = (value: unknown): number | undefined => {
  if (typeof value === "number" && !(value > 0)) return undefined
  if (typeof value === "bigint" && value <= 0n) return undefined
  if (typeof value === "string" && value.trim().startsWith("-")) return undefined
  const decoded = Duration.decodeUnknown(value)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) return undefined
  const millis = Duration.toMillis(decoded.value)
  return Number.isFinite(millis) && millis > 0 ? millis : undefined
}

export const checkConnectTimeout = (value: unknown): Rejection | number => {
  if (value === undefined) return DEFAULT_CONNECT_TIMEOUT_MILLIS
  return positiveMillis(value) ?? new Rejection("connectTimeout", value, "a finite duration > 0")
}

export const checkNoDelay = (value: unknown): Rejection | boolean =>
  value === undefined ? true : typeof value === "boolean" ? value : new Rejection("noDelay", value, "true or false")

/**
 * `false` (off), `true` (on, probes after the default idle time) or the idle
 * time itself, at least 1 second: the kernel counts it in whole seconds.
 */
export const checkKeepAlive = (value: unknown): Rejection | number => {
  if (value === undefined || value === true) return DEFAULT_KEEPALIVE_MILLIS
  if (value === false) return 0
  const millis = positiveMillis(value)
  return millis !== undefined && millis >= 1_000 ?
    millis :
    new Rejection("keepAlive", value, "true, false, or a finite duration >= 1 second")
}

/** The first rejection among `checks`, or undefined when all passed. */
export const firstRejection = (...checks: ReadonlyArray<unknown>): Rejection | undefined =>
  checks.find((c): c is Rejection => c instanceof Rejection)

/**
 * The first key of `given` not in `known`: a misspelled `conectTimeout`
 * would otherwise be ignored without a word. (The TLS managers pass Node's
 * own `tls.connect` options through, so they cannot check their keys.)
 */
export const unknownKey = (given: Readonly<Record<string, unknown>>, known: ReadonlyArray<string>): Rejection | undefined => {
  const key = Object.keys(given).find((k) => !known.includes(k))
  return key === undefined ?
    undefined :
    new Rejection(key, shownValue(key, given[key]), `one of the known options: ${known.join(", ")}`)
}

/** Option names whose values are secrets (a TLS key or passphrase, whatever it is called). */
const secretName = /key|pfx|pass|secret|token|auth|cred/i

/**
 * What an error may show of an option's value: never one whose name says
 * it is a secret (also under a misspelled or foreign name: TLS options
 * given to `tcp`), and a size rather than a whole PEM or buffer.
 */
export const shownValue = (field: string, value: unknown): unknown =>
  secretName.test(field) ? "<redacted>" :
  typeof value === "string" && value.includes("-----BEGIN") ? `(${value.length} characters)` :
  Buffer.isBuffer(value) ? `(${value.length} bytes)` :
  value

export const checkSocketOptions = (options: {
  readonly noDelay?: unknown
  readonly keepAlive?: unknown
  readonly connectTimeout?: unknown
}): Rejection | ResolvedSocketOptions => {
  const noDelay = checkNoDelay(options.noDelay)
  const keepAliveMillis = checkKeepAlive(options.keepAlive)
  const connectTimeoutMillis = checkConnectTimeout(options.connectTimeout)
  return firstRejection(noDelay, keepAliveMillis, connectTimeoutMillis) ??
    { noDelay: noDelay as boolean, keepAliveMillis: keepAliveMillis as number, connectTimeoutMillis: connectTimeoutMillis as number }
}

export const describeValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "bigint") return `${value}n`
  if (typeof value !== "object" || value === null) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
