/**
 * The command-line options every command shares, and how each value is
 * checked. Every option is read as text and checked here rather than by
 * `@effect/cli`'s typed primitives, so that a bad value fails with one line
 * that names the option and the value (`--callers: expected a whole number
 * from 1 to 10000, got "abc"`); the primitives' own messages name neither.
 * A failure is a `ValidationError`: `@effect/cli` prints it, and the
 * program exits 2.
 */
import * as Options from "@effect/cli/Options"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { MySqlPool } from "../../index.js"

/** The one-line message for a bad value; the value is quoted as given (a URL with its password masked). */
export const badValue = (flag: string, value: string, expected: string): string =>
  `${flag}: expected ${expected}, got ${JSON.stringify(value.includes("://") ? MySqlPool.maskUrl(value) : value)}`

const invalid = (flag: string, value: string, expected: string) =>
  Effect.fail(ValidationError.invalidValue(HelpDoc.p(badValue(flag, value, expected))))

/** A text option checked by `check`, with a pseudo-name and a description for `--help`. */
const checked = <A>(
  name: string,
  pseudo: string,
  description: string,
  check: (flag: string, raw: string) => Effect.Effect<A, ValidationError.ValidationError>
): Options.Options<A> =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudo),
    Options.withDescription(description),
    Options.mapEffect((raw) => check(`--${name}`, raw))
  )

/** A whole number from `min` to `max`. */
export const wholeNumber = (name: string, description: string, min: number, max: number): Options.Options<number> =>
  checked(name, "N", description, (flag, raw) => {
    const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN
    return Number.isSafeInteger(n) && n >= min && n <= max ?
      Effect.succeed(n) :
      invalid(flag, raw, `a whole number from ${min} to ${max}`)
  })

const units: Record<string, number> = {
  ms: 1, millis: 1, milliseconds: 1,
  s: 1000, sec: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000
}

/** `10s`, `500ms`, `2 minutes`, `1.5` (seconds, the unit when none is given); `None` for anything else. */
export const parseDuration = (raw: string): Option.Option<Duration.Duration> => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw)
  if (m === null) return Option.none()
  const unit = m[2] === "" ? 1000 : units[m[2]!.toLowerCase()]
  if (unit === undefined) return Option.none()
  return Option.some(Duration.millis(Math.round(Number(m[1]) * unit)))
}

/** A duration (see `parseDuration`) within `bounds`. */
export const duration = (
  name: string,
  description: string,
  bounds: { readonly min: Duration.Duration; readonly max: Duration.Duration }
): Options.Options<Duration.Duration> =>
  checked(name, "DURATION", description, (flag, raw) => {
    const parsed = parseDuration(raw)
    const expected = `a duration from ${Duration.format(bounds.min)} to ${
      Duration.format(bounds.max)
    } such as 10s, 500ms or 2m`
    return Option.isSome(parsed) &&
        Duration.greaterThanOrEqualTo(parsed.value, bounds.min) &&
        Duration.lessThanOrEqualTo(parsed.value, bounds.max) ?
      Effect.succeed(parsed.value) :
      invalid(flag, raw, expected)
  })

/** `1,2,4,8`: distinct whole numbers from 1 to `max`, sorted. */
export const sizeList = (name: string, description: string, max: number): Options.Options<ReadonlyArray<number>> =>
  checked(name, "N,N,…", description, (flag, raw) => {
    const parts = raw.split(",").map((p) => p.trim())
    const sizes = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN))
    const ok = parts.length > 0 && sizes.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= max) &&
      new Set(sizes).size === sizes.length
    return ok ?
      Effect.succeed([...sizes].sort((a, b) => a - b)) :
      invalid(flag, raw, `distinct whole numbers from 1 to ${max} separated by commas, such as 1,2,4,8`)
  })


const urlExpected = "a URL like mysql://user:password@host:3306/database, without query parameters"

/** Whether `raw` is a URL the MySQL layer takes: `mysql:` or `mariadb:`, a host, no query, no fragment. */
export const isMySqlUrl = (raw: string): boolean => {
  try {
    const parsed = new URL(raw)
    return (parsed.protocol === "mysql:" || parsed.protocol === "mariadb:") && parsed.hostname !== "" &&
      parsed.search === "" && parsed.hash === ""
  } catch {
    return false
  }
}

/** The line for a bad URL in `option` (a flag or `MYSQL_URL`), its password masked. */
export const badUrl = (option: string, raw: string): string => badValue(option, MySqlPool.maskUrl(raw), urlExpected)

/** `mysql://user:password@host:port/database`, kept `Redacted` from here on. */
export const url = (name: string, description: string): Options.Options<Redacted.Redacted<string>> =>
  checked(name, "URL", description, (flag, raw) =>
    isMySqlUrl(raw) ?
      Effect.succeed(Redacted.make(raw)) :
      Effect.fail(ValidationError.invalidValue(HelpDoc.p(badUrl(flag, raw)))))

/** One of `choices`. */
export const oneOf = <const C extends ReadonlyArray<string>>(
  name: string,
  description: string,
  choices: C
): Options.Options<C[number]> =>
  checked(name, choices.join("|"), description, (flag, raw) =>
    choices.includes(raw) ?
      Effect.succeed(raw as C[number]) :
      invalid(flag, raw, `one of ${choices.join(", ")}`))

/** A non-empty statement. */
export const statement = (name: string, description: string): Options.Options<string> =>
  checked(name, "SQL", description, (flag, raw) =>
    raw.trim() === "" ? invalid(flag, raw, "a non-empty SQL statement") : Effect.succeed(raw.trim()))

/** A directory path (created when missing). */
export const directory = (name: string, description: string): Options.Options<string> =>
  checked(name, "DIR", description, (flag, raw) =>
    raw.trim() === "" ? invalid(flag, raw, "a directory path") : Effect.succeed(raw))
