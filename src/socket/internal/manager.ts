/**
 * The managers themselves: a `Target` per endpoint (how to open the socket)
 * plus the hooks every socket manager shares (dispose, the aliveness check,
 * the check on every borrow, the reset on every return).
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"
import * as tls from "node:tls"
import type { ConnectionManager } from "../../core/ConnectionPool.js"
import { PoolConfigError } from "../../core/PoolError.js"
import type { KeyedConnectionManager } from "../../keyed/KeyedConnectionManager.js"
import { SocketError } from "../SocketError.js"
import type { Endpoint } from "../SocketManager.js"
import { connect, messageOf, type Target } from "./connect.js"
import { dispose } from "./dispose.js"
import {
  checkConnectTimeout,
  checkHost,
  checkPath,
  checkPort,
  checkSocketOptions,
  describeValue,
  firstRejection,
  Rejection,
  type ResolvedSocketOptions,
  shownValue,
  unknownKey
} from "./options.js"
import { type Dead, deadReason, resetForNextBorrower, trackedOf, type Transport } from "./tracked.js"

const configError = (r: Rejection) => new PoolConfigError({ option: r.field, value: r.value, expected: r.expected })

export const endpointText = (host: string, port: number): string => net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`

const deadError = (socket: net.Socket, dead: Dead): SocketError => {
  const state = trackedOf(socket)
  return new SocketError({
    transport: state?.transport ?? "tcp",
    endpoint: state?.endpoint ?? "(a socket this manager did not open)",
    code: dead.code,
    detail: dead.detail,
    ...(dead.cause === undefined ? {} : { cause: dead.cause })
  })
}

/**
 * The hooks after `create`. `onAcquire` checks the socket on every borrow,
 * whatever the pool's `validateAfterIdle` says, because the check costs a few
 * property reads: an idle socket found dead is disposed and the borrower is
 * served another. `onRelease` checks and resets it, so a socket the borrower
 * left unfit is disposed instead of pooled.
 */
const hooks = {
  dispose: (socket: net.Socket) => dispose(socket),
  isAlive: (socket: net.Socket) => Effect.sync(() => deadReason(socket) === undefined),
  onAcquire: (socket: net.Socket) =>
    Effect.suspend(() => {
      const dead = deadReason(socket)
      return dead === undefined ? Effect.void : Effect.fail(deadError(socket, dead))
    }),
  onRelease: (socket: net.Socket) =>
    Effect.suspend(() => {
      const dead = resetForNextBorrower(socket)
      return dead === undefined ? Effect.void : Effect.fail(deadError(socket, dead))
    })
}

const managerOf = <S extends net.Socket>(target: Target<S>): ConnectionManager<S, SocketError> => ({
  create: connect(target),
  ...hooks
})

const keyedOf = <K, S extends net.Socket>(
  targetOf: (key: K) => Target<S> | SocketError
): KeyedConnectionManager<K, S, SocketError> => ({
  create: (key) =>
    Effect.suspend(() => {
      const target = targetOf(key)
      return target instanceof SocketError ? Effect.fail(target) : connect(target)
    }),
  dispose: (socket) => hooks.dispose(socket),
  isAlive: (socket) => hooks.isAlive(socket),
  onAcquire: (socket) => hooks.onAcquire(socket),
  onRelease: (socket) => hooks.onRelease(socket)
})

/** A key that is no endpoint fails its `create` (and only that key's). */
const badKey = (transport: Transport, endpoint: string, r: Rejection) =>
  new SocketError({
    transport,
    endpoint,
    code: "EINVAL",
    detail: `invalid ${r.field} ${describeValue(r.value)} in the key (expected ${r.expected})`
  })

// --------------------------------------------------------------- targets

const tcpConfigure = (options: ResolvedSocketOptions) => (socket: net.Socket) => {
  socket.setNoDelay(options.noDelay)
  if (options.keepAliveMillis > 0) socket.setKeepAlive(true, options.keepAliveMillis)
}

const tcpTarget = (host: string, port: number, options: ResolvedSocketOptions): Target<net.Socket> => ({
  transport: "tcp",
  endpoint: endpointText(host, port),
  open: () => net.connect({ host, port }),
  readyEvent: "connect",
  connectTimeoutMillis: options.connectTimeoutMillis,
  configure: tcpConfigure(options)
})

const socketKeys = ["noDelay", "keepAlive", "connectTimeout"]

const tlsTarget = (
  host: string,
  port: number,
  options: ResolvedSocketOptions,
  connectOptions: tls.ConnectionOptions
): Target<tls.TLSSocket> => ({
  transport: "tls",
  endpoint: endpointText(host, port),
  open: () => tls.connect({ ...connectOptions, host, port }),
  readyEvent: "secureConnect",
  connectTimeoutMillis: options.connectTimeoutMillis,
  configure: tcpConfigure(options)
})

const unixTarget = (path: string, connectTimeoutMillis: number): Target<net.Socket> => ({
  transport: "unix",
  endpoint: path,
  open: () => net.connect({ path }),
  readyEvent: "connect",
  connectTimeoutMillis
})

/** Node's own `tls.connect` options, minus those the manager sets or forbids. */
const tlsPassThrough = (options: Readonly<Record<string, unknown>>): tls.ConnectionOptions => {
  const { noDelay: _n, keepAlive: _k, connectTimeout: _c, host: _h, port: _p, ...rest } = options
  return rest as tls.ConnectionOptions
}

const TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

/** What an error may show of a TLS option: never a key or a passphrase, and of certificates only their size. */
const shown = (field: string, value: unknown): unknown =>
  typeof value === "string" && ["ca", "cert", "crl", "dhparam"].includes(field) ?
    `(${value.length} characters)` :
    shownValue(field, value)

/** The secure-context fields: Node ignores every one of them when a `secureContext` is given. */
const CONTEXT_FIELDS = [
  "ca",
  "cert",
  "key",
  "pfx",
  "passphrase",
  "crl",
  "ciphers",
  "ecdhCurve",
  "dhparam",
  "sigalgs",
  "minVersion",
  "maxVersion",
  "secureOptions",
  "secureProtocol",
  "honorCipherOrder",
  "sessionIdContext",
  "privateKeyEngine",
  "privateKeyIdentifier"
]

const isCertificate = (ca: unknown): boolean =>
  (typeof ca !== "string" && !Buffer.isBuffer(ca)) || /-----BEGIN (?:TRUSTED )?CERTIFICATE-----/.test(ca.toString())

/**
 * Node's `tls.connect` options, checked now rather than at the first
 * connect (which would fail every open, with backoff, and name no option):
 * the common fields' types, then the certificates and keys themselves,
 * parsed into the one secure context every connection of the manager
 * shares (without it, each connect parses them again). A bad one is named
 * with OpenSSL's reason; a key, a pfx and a passphrase are never shown.
 */
const tlsConnectOptions = (given: Readonly<Record<string, unknown>>): Rejection | tls.ConnectionOptions => {
  const options = tlsPassThrough(given)
  const typed = firstRejection(
    given.rejectUnauthorized === undefined || typeof given.rejectUnauthorized === "boolean" ?
      undefined :
      new Rejection("rejectUnauthorized", given.rejectUnauthorized, "true or false"),
    given.servername === undefined || (typeof given.servername === "string" && given.servername !== "") ?
      undefined :
      new Rejection("servername", given.servername, "a non-empty host name"),
    ...["minVersion", "maxVersion"].map((field) =>
      given[field] === undefined || TLS_VERSIONS.includes(given[field] as string) ?
        undefined :
        new Rejection(field, given[field], `one of ${TLS_VERSIONS.join(", ")}`)
    )
  )
  if (typed !== undefined) return typed
  if (options.secureContext !== undefined) {
    const ignored = CONTEXT_FIELDS.find((field) => given[field] !== undefined)
    return ignored === undefined ? options : new Rejection(
      ignored,
      shown(ignored, given[ignored]),
      "no value beside secureContext (Node would ignore it): put it in the secure context"
    )
  }
  const order = (version: unknown) => TLS_VERSIONS.indexOf(version as string)
  if (given.minVersion !== undefined && given.maxVersion !== undefined && order(given.minVersion) > order(given.maxVersion)) {
    return new Rejection("maxVersion", given.maxVersion, `a version no older than minVersion ${String(given.minVersion)}`)
  }
  // Node skips what is not a certificate in `ca` without a word: a path given for the file's
  // contents, or a key's PEM, would leave no CA, and so would an empty list.
  const cas = given.ca === undefined ? undefined : Array.isArray(given.ca) ? given.ca : [given.ca]
  if (cas !== undefined && cas.length === 0) return new Rejection("ca", "[]", "at least one PEM certificate")
  const notCertificate = cas?.find((ca) => !isCertificate(ca))
  if (notCertificate !== undefined) {
    return new Rejection("ca", shown("ca", notCertificate), "PEM certificates (a file's contents, not its path)")
  }
  // Each piece alone first, so that the error names the one at fault; then all together (a key that does not match its cert).
  const pieces: ReadonlyArray<readonly [string, tls.SecureContextOptions]> = [
    ["ca", { ca: options.ca }],
    ["cert", { cert: options.cert }],
    ["key", { key: options.key, passphrase: options.passphrase }],
    ["pfx", { pfx: options.pfx, passphrase: options.passphrase }],
    ["ciphers", { ciphers: options.ciphers }],
    ["ecdhCurve", { ecdhCurve: options.ecdhCurve }],
    ["sigalgs", { sigalgs: options.sigalgs }]
  ]
  for (const [field, piece] of pieces) {
    if (given[field] === undefined) continue
    try {
      tls.createSecureContext(piece)
    } catch (error) {
      return new Rejection(field, shown(field, given[field]), `valid TLS material (${messageOf(error)})`)
    }
  }
  // A client certificate needs its key, and a key its certificate: alone, Node sends none.
  if (given.pfx === undefined && (given.cert === undefined) !== (given.key === undefined)) {
    const missing = given.cert === undefined ? "cert" : "key"
    const present = missing === "cert" ? "key" : "cert"
    return new Rejection(missing, undefined, `a value: ${present} is given, and a client certificate needs both`)
  }
  try {
    return { ...options, secureContext: tls.createSecureContext(options) }
  } catch (error) {
    const field = given.key !== undefined ? "key" : given.pfx !== undefined ? "pfx" : "options"
    return new Rejection(field, shown(field, given[field]), `TLS options that fit together (${messageOf(error)})`)
  }
}

const forbiddenTls = (options: Readonly<Record<string, unknown>>): Rejection | undefined => {
  const field = ["socket", "path", "timeout"].find((f) => options[f] !== undefined)
  if (field === undefined) return undefined
  return new Rejection(
    field,
    field === "socket" ? "(a socket)" : options[field],
    field === "timeout" ?
      "no value: use connectTimeout (a socket idle timeout would fire on pooled sockets)" :
      "no value: the manager opens its own TCP connection to host:port"
  )
}

/**
 * Run a constructor's checks: `build` gets the options as a record (or
 * fails when they are not one) and returns the manager or the first
 * rejected field.
 */
const checked = <A>(
  options: unknown,
  build: (given: Readonly<Record<string, unknown>>) => Rejection | A
): Effect.Effect<A, PoolConfigError> =>
  Effect.suspend(() => {
    const result = typeof options === "object" && options !== null ?
      build(options as Record<string, unknown>) :
      new Rejection("options", options, "an object")
    return result instanceof Rejection ? Effect.fail(configError(result)) : Effect.succeed(result)
  })

// ------------------------------------------------------------ constructors

export const tcp = (options: unknown): Effect.Effect<ConnectionManager<net.Socket, SocketError>, PoolConfigError> =>
  checked(options, (given) => {
    const host = checkHost(given.host)
    const port = checkPort(given.port)
    const resolved = checkSocketOptions(given)
    const bad = unknownKey(given, ["host", "port", ...socketKeys]) ?? firstRejection(host, port, resolved)
    return bad ?? managerOf(tcpTarget(host as string, port as number, resolved as ResolvedSocketOptions))
  })

export const tls_ = (options: unknown): Effect.Effect<ConnectionManager<tls.TLSSocket, SocketError>, PoolConfigError> =>
  checked(options, (given) => {
    const host = checkHost(given.host)
    const port = checkPort(given.port)
    const resolved = checkSocketOptions(given)
    const bad = firstRejection(host, port, resolved) ?? forbiddenTls(given)
    const connectOptions = bad ?? tlsConnectOptions(given)
    return connectOptions instanceof Rejection ?
      connectOptions :
      managerOf(tlsTarget(host as string, port as number, resolved as ResolvedSocketOptions, connectOptions))
  })

export const unix = (options: unknown): Effect.Effect<ConnectionManager<net.Socket, SocketError>, PoolConfigError> =>
  checked(options, (given) => {
    const path = checkPath(given.path)
    const timeout = checkConnectTimeout(given.connectTimeout)
    const bad = unknownKey(given, ["path", "connectTimeout"]) ?? firstRejection(path, timeout)
    return bad ?? managerOf(unixTarget(path as string, timeout as number))
  })

const keyText = (key: unknown): string => {
  if (typeof key !== "object" || key === null) return String(key)
  const { host, port } = key as Partial<Endpoint>
  return `${String(host)}:${String(port)}`
}

const endpointOfKey = (key: unknown): Rejection | Endpoint => {
  if (typeof key !== "object" || key === null) return new Rejection("key", key, "an endpoint { host, port }")
  const k = key as Readonly<Record<string, unknown>>
  const host = checkHost(k.host)
  const port = checkPort(k.port)
  return firstRejection(host, port) ?? { host: host as string, port: port as number }
}

export const tcpKeyed = (
  options: unknown = {}
): Effect.Effect<KeyedConnectionManager<Endpoint, net.Socket, SocketError>, PoolConfigError> =>
  checked(options, (given) => {
    const resolved = checkSocketOptions(given)
    const bad = unknownKey(given, socketKeys) ?? firstRejection(resolved)
    return bad ?? keyedOf<Endpoint, net.Socket>((key) => {
      const endpoint = endpointOfKey(key)
      if (endpoint instanceof Rejection) return badKey("tcp", keyText(key), endpoint)
      return tcpTarget(endpoint.host, endpoint.port, resolved as ResolvedSocketOptions)
    })
  })

export const tlsKeyed = (
  options: unknown = {}
): Effect.Effect<KeyedConnectionManager<Endpoint, tls.TLSSocket, SocketError>, PoolConfigError> =>
  checked(options, (given) => {
    const resolved = checkSocketOptions(given)
    const endpointField = ["host", "port"].find((field) => given[field] !== undefined)
    const bad = (endpointField === undefined ?
      undefined :
      new Rejection(endpointField, given[endpointField], "no value: each key is an endpoint { host, port }")) ??
      firstRejection(resolved) ?? forbiddenTls(given)
    const connectOptions = bad ?? tlsConnectOptions(given)
    return connectOptions instanceof Rejection ? connectOptions : keyedOf<Endpoint, tls.TLSSocket>((key) => {
      const endpoint = endpointOfKey(key)
      if (endpoint instanceof Rejection) return badKey("tls", keyText(key), endpoint)
      return tlsTarget(endpoint.host, endpoint.port, resolved as ResolvedSocketOptions, connectOptions)
    })
  })

export const unixKeyed = (
  options: unknown = {}
): Effect.Effect<KeyedConnectionManager<string, net.Socket, SocketError>, PoolConfigError> =>
  checked(options, (given) => {
    const timeout = checkConnectTimeout(given.connectTimeout)
    const bad = unknownKey(given, ["connectTimeout"]) ?? firstRejection(timeout)
    return bad ?? keyedOf<string, net.Socket>((key) => {
      const path = checkPath(key)
      if (path instanceof Rejection) return badKey("unix", String(key), path)
      return unixTarget(path, timeout as number)
    })
  })
