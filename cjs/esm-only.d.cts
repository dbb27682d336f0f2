/**
 * effect-connection-pool is ESM-only: `require()` of it throws at run time.
 * From CommonJS, load it with `await import("effect-connection-pool")`
 * (typed as the real module), or make your package an ES module
 * (`"type": "module"`).
 */
declare const effectConnectionPoolIsEsmOnly: "effect-connection-pool is ESM-only: use await import(\"effect-connection-pool\") from CommonJS"
export = effectConnectionPoolIsEsmOnly
