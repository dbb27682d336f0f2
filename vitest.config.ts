import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two files at a time, on any machine: most files spend their time waiting
    // on a server (their own throwaway mariadbd, a child process, a tmux pane),
    // so two run in about 60 % of the time of one on the 2-CPU machines here
    // (120 s against 200 s); more would put timing-sensitive fault tests
    // beside several starting servers.
    minWorkers: 2,
    maxWorkers: 2
  }
})
