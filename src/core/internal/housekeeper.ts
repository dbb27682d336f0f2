/**
 * The housekeeper: one background fiber per pool that retires expired
 * connections, closes the idle surplus above `minSize`, runs keepalive
 * checks, and sleeps until the nearest of those deadlines. It runs only when
 * one of `maxLifetime`, `idleTimeout` or `keepaliveInterval` is on.
 */
import * as Effect from "effect/Effect"
import { check } from "./acquire.js"
import type { Engine, Entry } from "./engine.js"
import { LIFETIME_JITTER } from "./grow.js"

/** Whether this pool needs a housekeeper at all. */
export const isNeeded = <A, E, R>(engine: Engine<A, E, R>): boolean => {
  const { idleTimeout, keepaliveInterval, maxLifetime } = engine.options
  return maxLifetime > 0 || idleTimeout > 0 || keepaliveInterval > 0
}

/** The maintenance loop: one pass, then sleep until the next deadline. */
export const housekeeper = <A, E, R>(engine: Engine<A, E, R>): Effect.Effect<never> =>
  Effect.suspend(() => Effect.sleep(pass(engine))).pipe(Effect.forever)

/** One maintenance pass; returns how long to sleep until the next deadline. */
export const pass = <A, E, R>(engine: Engine<A, E, R>): number => {
  const now = engine.now()
  if (engine.closed) return 60_000
  retireStale(engine, now)
  closeIdleSurplus(engine, now)
  startKeepalives(engine, now)
  return Math.max(1, Math.ceil(nextDeadline(engine, now) - now))
}

/** Idle connections past their lifetime, invalidated or cleared. */
const retireStale = <A, E, R>(engine: Engine<A, E, R>, now: number): void => {
  for (const entry of [...engine.idle]) {
    if (engine.isStale(entry, now)) {
      engine.removeIdle(entry)
      engine.destroy(entry, engine.isRetired(entry) ? engine.retiredReason(entry) : "lifetime")
    }
  }
}

/** Connections idle for `idleTimeout`, longest idle first, as long as the pool stays at or above `minSize`. */
const closeIdleSurplus = <A, E, R>(engine: Engine<A, E, R>, now: number): void => {
  const { idleTimeout, minSize } = engine.options
  if (idleTimeout === 0) return
  let surplus = engine.size() - minSize
  const expired = engine.idle
    .filter((entry) => now - entry.idleSince >= idleTimeout)
    .sort((a, b) => a.idleSince - b.idleSince)
  for (const entry of expired) {
    if (surplus <= 0) break
    engine.removeIdle(entry)
    engine.destroy(entry, "idle")
    surplus--
  }
}

/** Idle connections not known to work for `keepaliveInterval` are checked in the background. */
const startKeepalives = <A, E, R>(engine: Engine<A, E, R>, now: number): void => {
  const { keepaliveInterval } = engine.options
  if (keepaliveInterval === 0 || engine.manager.isAlive === undefined) return
  for (const entry of [...engine.idle]) {
    if (now - entry.lastAliveAt >= keepaliveInterval) keepalive(engine, entry)
  }
}

/** Check one idle connection in the background; it is `checking` meanwhile, so nobody borrows it. */
const keepalive = <A, E, R>(engine: Engine<A, E, R>, entry: Entry<A>): void => {
  engine.removeIdle(entry)
  entry.state = "checking"
  engine.checking++
  engine.run(Effect.flatMap(check(engine, entry), (ok) =>
    Effect.sync(() => {
      if (entry.state === "disposed") return // terminated meanwhile
      engine.checking--
      if (ok) engine.deliver(entry, "keep")
      else engine.destroy(entry, "dead")
      engine.checkDrained()
    })))
}

/**
 * When the next pass is due. Anything that becomes idle after this pass has
 * deadlines at least one interval away, so sleeping a little less than the
 * shortest interval (and never past a known deadline) misses none.
 */
const nextDeadline = <A, E, R>(engine: Engine<A, E, R>, now: number): number => {
  const { idleTimeout, keepaliveInterval, maxLifetime } = engine.options
  const intervals = [idleTimeout, keepaliveInterval, maxLifetime].filter((d) => d > 0)
  let next = now + Math.floor(Math.min(...intervals) * (1 - 2 * LIFETIME_JITTER))
  const consider = (deadline: number) => {
    if (deadline > now && deadline < next) next = deadline
  }
  for (const entry of engine.entries.values()) {
    consider(entry.expiresAt)
    if (entry.state !== "idle") continue
    if (idleTimeout > 0) consider(entry.idleSince + idleTimeout)
    if (keepaliveInterval > 0) consider(entry.lastAliveAt + keepaliveInterval)
  }
  return next
}
