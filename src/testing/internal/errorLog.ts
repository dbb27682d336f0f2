/**
 * Reading the server's error log (`ServerFiles.logPath`). The log is shared
 * by every start on the same data directory, so a startup failure reads from
 * the offset the log had when that start began: only its own lines.
 */
import * as fs from "node:fs"

/** Current size in bytes; 0 while the log does not exist yet. */
export const logSize = (logPath: string): number => {
  try {
    return fs.statSync(logPath).size
  } catch {
    return 0
  }
}

/** Everything from byte `offset` on; empty while the log does not exist yet. */
export const readLogFrom = (logPath: string, offset: number): string => {
  try {
    return fs.readFileSync(logPath).subarray(offset).toString("utf8")
  } catch {
    return ""
  }
}

/** The last `lines` lines of `text`, for an error message. */
export const tail = (text: string, lines: number): string => text.split("\n").slice(-lines).join("\n").trim()
