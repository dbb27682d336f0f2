/**
 * The leak-detection stack budget (src/core/internal/borrowSite.ts) on its
 * own: process-wide and on the wall clock, so it is driven here with fake
 * timers, in a file of its own (its state is the module's).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { siteOfBorrow, STACKS_PER_SECOND, stacklessSite } from "../src/core/internal/borrowSite.js"

describe("the stack budget", () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("gives the first STACKS_PER_SECOND borrows of a second their stack, and comes back a second later however few borrows follow", () => {
    const sites = Array.from({ length: STACKS_PER_SECOND + 1 }, siteOfBorrow)
    expect(sites.filter((site) => site === stacklessSite)).toHaveLength(1)
    expect(sites.at(-1)).toBe(stacklessSite)
    vi.advanceTimersByTime(999)
    expect(siteOfBorrow()).toBe(stacklessSite)
    // Quiet from here on: one borrow an hour still gets its stack.
    for (let hour = 0; hour < 3; hour++) {
      vi.advanceTimersByTime(3_600_000)
      const site = siteOfBorrow()
      expect(site).not.toBe(stacklessSite)
      expect(site.stack).toContain("borrowSite.test.ts")
    }
  })
})
