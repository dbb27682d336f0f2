import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { millisFrom } from "../src/core/internal/coarseClock.js"

describe("coarseClock (the clock that stamps waiters' deadlines)", () => {
  it("the live clock's reading is never ahead of the time, and is read afresh in a later microtask", async () => {
    const now = millisFrom(Effect.runSync(Effect.clock))
    const before = Date.now()
    const first = now()
    expect(first).toBeGreaterThanOrEqual(before)
    expect(first).toBeLessThanOrEqual(Date.now())
    // Let the wall clock move past the first reading, synchronously.
    const moved = first + 2
    while (Date.now() < moved) { /* spin */ }
    expect(now()).toBe(first) // same microtask: shared
    await Promise.resolve()
    expect(now()).toBeGreaterThanOrEqual(moved)
  })

  it.effect("a TestClock is always read exactly", () =>
    Effect.gen(function*() {
      const now = millisFrom(yield* Effect.clock)
      const t0 = now()
      yield* TestClock.adjust("5 seconds")
      expect(now()).toBe(t0 + 5_000)
    }))
})
