/**
 * The MySQL options of kind `count` (`maxPreparedStatements`): checked
 * after `resolveConfig` and handed to the connection manager.
 */
import * as Effect from "effect/Effect"
import { PoolConfigError } from "../../core/PoolError.js"
import type { MySqlPoolConfig } from "../MySqlPool.js"
import type { ResolvedConfig } from "./config.js"
import { mysqlOptions, mysqlOptionsOfKind } from "./options.js"

const countFields = mysqlOptionsOfKind("count")

/** Each `count` option is a whole number from 0 to its `max`; the first that is not fails naming it. */
export const withCounts = (
  config: MySqlPoolConfig,
  resolved: ResolvedConfig
): Effect.Effect<ResolvedConfig, PoolConfigError> => {
  for (const name of countFields) {
    const value: unknown = config[name]
    const max = mysqlOptions[name].max
    if (value !== undefined && !(typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= max)) {
      return Effect.fail(
        new PoolConfigError({ option: name, value, expected: `a whole number from 0 to ${max.toLocaleString("en-US")}` })
      )
    }
  }
  return Effect.succeed(
    config.maxPreparedStatements === undefined ?
      resolved :
      { ...resolved, connect: { ...resolved.connect, maxPreparedStatements: config.maxPreparedStatements } }
  )
}
