/**
 * Observability for every pool the package makes: OpenTelemetry's
 * connection-pool metrics through Effect's `Metric`, a span around borrows
 * that wait, leak detection, and the `pool.events` stream. Loading the
 * package's root module installs it; this module holds the names.
 *
 * Metrics (each tagged `db.client.connection.pool.name`; the unit is in a
 * `unit` tag, where `@effect/opentelemetry` reads it):
 * - `db.client.connection.count` (`db.client.connection.state` = `idle` |
 *   `used`; `used` counts borrowed connections and those under a keepalive
 *   check), `db.client.connection.idle.max` (= `maxSize`),
 *   `db.client.connection.idle.min` (= `minSize`), `db.client.connection.max`
 *   (= `maxSize`, 0 = unlimited), `db.client.connection.pending_requests`
 *   (callers waiting): up-down counters, always equal to `pool.stats`;
 * - `db.client.connection.timeouts` (counter);
 * - `db.client.connection.create_time`, `.wait_time`, `.use_time`
 *   (histograms, seconds; a borrow served from the idle stack waited 0);
 * - a keyed pool's sub-pools share its name and its series:
 *   `db.client.connection.max` is its `totalMaxSize`, the counts are over
 *   all keys, and its events carry their `key`;
 * - this library's own: `effect_connection_pool.create_failures`,
 *   `.validation_failures`, `.connection.closed` (by `reason`), `.leaks`.
 *
 * @since 0.1.0
 */
import { installObserver } from "../core/internal/engine.js"
import { names } from "./internal/metrics.js"
import { FamilyObservation, PoolObserver, WAIT_SPAN } from "./internal/observer.js"

installObserver((engine) => new PoolObserver(engine), (group) => new FamilyObservation(group))

/**
 * The metric names, for dashboards and tests.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Observability } from "effect-connection-pool"
 *
 * const inUse = Effect.map(Metric.snapshot, (pairs) =>
 *   pairs.filter((pair) => pair.metricKey.name === Observability.metricNames.count))
 * ```
 * @since 0.1.0
 */
export const metricNames = names

/**
 * The name of the span around a borrow that had to wait in line or for a
 * connection to be opened and checked.
 *
 * @example
 * ```ts
 * import { Observability } from "effect-connection-pool"
 * console.log(Observability.waitSpanName) // "db.client.connection.wait"
 * ```
 * @since 0.1.0
 */
export const waitSpanName: string = WAIT_SPAN
