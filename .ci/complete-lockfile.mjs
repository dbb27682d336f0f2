// npm 11 (here) writes package-lock.json without the optional packages of
// other platforms, and `npm ci` then refuses the lock file ("Missing: … from
// lock file"; npm/cli#8805). This adds the missing entries from the registry.
// Packages the registry here does not serve (other platforms' binaries) get
// their platform from their name, so that npm skips them without fetching.
// Run after `npm install` changes the lock file:  node .ci/complete-lockfile.mjs
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

const lockPath = new URL("../package-lock.json", import.meta.url)
const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"))
const npm = (args) => execFileSync("npm", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
const oses = ["darwin", "linux", "win32", "android", "freebsd", "openbsd", "openharmony", "sunos", "aix", "netbsd"]
const cpus = ["arm64", "x64", "arm", "ia32", "loong64", "ppc64", "riscv64", "s390x", "mips64el"]
const fromName = (name, range) => {
  const parts = name.split("/").pop().split("-")
  const os = parts.find((p) => oses.includes(p))
  const cpu = parts.find((p) => cpus.includes(p)) ?? (parts.includes("arm") ? "arm" : undefined)
  const libc = parts.some((p) => p.startsWith("musl")) ? "musl" : parts.some((p) => p.startsWith("gnu")) && os === "linux" ? "glibc" : undefined
  if (!os || !cpu) throw new Error(`cannot tell the platform of ${name}; add its entry by hand`)
  return { version: range.replace(/^[\^~=]/, ""), os: [os], cpu: [cpu], ...(libc ? { libc: [libc] } : {}) }
}
const describe = (name, range) => {
  try {
    const meta = JSON.parse(npm(["view", `${name}@${range}`, "version", "dist.integrity", "os", "cpu", "libc", "license", "--json"]))
    const info = Array.isArray(meta) ? meta[meta.length - 1] : meta
    return { version: info.version, integrity: info["dist.integrity"], os: info.os, cpu: info.cpu, libc: info.libc, license: info.license }
  } catch {
    return fromName(name, range)
  }
}
let added = 0
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`
    if (lock.packages[key] || lock.packages[`${path}/node_modules/${name}`]) continue
    const info = describe(name, range)
    lock.packages[key] = {
      version: info.version,
      ...(info.integrity ? { integrity: info.integrity } : {}),
      ...(info.cpu ? { cpu: info.cpu } : {}),
      ...(entry.dev ? { dev: true } : {}),
      ...(info.libc ? { libc: info.libc } : {}),
      ...(info.license ? { license: info.license } : {}),
      optional: true,
      ...(info.os ? { os: info.os } : {})
    }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))))
fs.writeFileSync(lockPath, JSON.stringify(lock, null, 2) + "\n")
console.log(`added ${added} optional platform package(s) to package-lock.json`)
