// effect-connection-pool is published as ES modules only. This file is what
// a CommonJS `require("effect-connection-pool")` (or `/promise`, `/testing`)
// resolves to, so that the failure says what to do instead of
// ERR_PACKAGE_PATH_NOT_EXPORTED.
"use strict"
const error = new Error(
  'effect-connection-pool is ESM-only and cannot be loaded with require(). From CommonJS, load it with ' +
    '`const { Pool } = await import("effect-connection-pool")` (also "effect-connection-pool/promise" and ' +
    '"effect-connection-pool/testing"), or make your package an ES module ("type": "module" in package.json).'
)
error.code = "ERR_ECP_ESM_ONLY"
throw error
