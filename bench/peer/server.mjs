// The peer for `mana-bench --peer`: a minimal Better Auth 1.7 server
// (email + password, the jwt plugin with EdDSA/Ed25519, the organization
// plugin) on Hono and better-sqlite3. Benchmarks only: never started by tests
// or CI.
//
//   node server.mjs [port]        (PORT, PEER_DATA_DIR from the environment)
//
// Fairness settings, all in the peer's favour or matching mana-auth:
// - rateLimit off (mana-bench turns mana-auth's limits off too);
// - the SQLite file in WAL mode with synchronous=FULL, like mana-auth's default;
// - the jwt plugin does not sign a JWT into `set-auth-jwt` on every
//   get-session (mana-auth's /session signs nothing either); the JWT is
//   fetched from /api/auth/token as part of the login workload.
// Prints "listening on http://127.0.0.1:PORT" once the schema is migrated;
// GET /health answers {"status":"ok"}.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { jwt, organization } from "better-auth/plugins";
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3002);
const dir = process.env.PEER_DATA_DIR ?? mkdtempSync(join(tmpdir(), "mana-peer-"));
const db = new Database(join(dir, "peer.db"));
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");

function makeAuth(baseURL) {
  return betterAuth({
    baseURL,
    secret: "mana-bench-peer-secret-not-for-production-0123456789",
    database: db,
    emailAndPassword: { enabled: true, requireEmailVerification: false },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    plugins: [
      jwt({
        jwks: { keyPairConfig: { alg: "EdDSA", crv: "Ed25519" } },
        disableSettingJwtHeader: true,
      }),
      organization(),
    ],
  });
}

// The schema does not depend on the URL; migrate before listening.
const { runMigrations } = await getMigrations(makeAuth("http://127.0.0.1").options);
await runMigrations();

let auth = null;
const app = new Hono();
app.get("/health", (c) => c.json({ status: "ok" }));
app.on(["GET", "POST"], "/api/auth/*", (c) => auth.handler(c.req.raw));

serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
  auth = makeAuth(`http://127.0.0.1:${info.port}`);
  console.log(`listening on http://127.0.0.1:${info.port} (data ${dir})`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    db.close();
    process.exit(0);
  });
}
