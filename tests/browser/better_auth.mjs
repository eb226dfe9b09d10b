// Test fixtures made by Better Auth 1.7.25 itself (and Web Crypto, as the
// PostgreSQL service used it), for tests/api: reads one JSON request on
// stdin, prints one JSON answer on stdout.
//
//   {"hash": ["pw", …]}                       -> {"hash": ["salt:key", …]}
//   {"encrypt": {"secret": s, "data": [d, …]}} -> {"encrypt": [hex, …]}
//       Better Auth's symmetricEncrypt with the BETTER_AUTH_SECRET s (how
//       the two-factor plugin stores TOTP secrets and backup codes)
//   {"wrap": {"kek": b64, "keys": [b64, …]}}    -> {"wrap": [{wrappedMk, wrapIv}, …]}
//       AES-256-GCM under the KEK with a random 12-byte IV, base64, tag
//       appended (the encryption vault's server wrap)
import { hashPassword, symmetricEncrypt } from "better-auth/crypto";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const answer = {};

if (request.hash) {
  answer.hash = [];
  for (const password of request.hash) answer.hash.push(await hashPassword(password));
}

if (request.encrypt) {
  answer.encrypt = [];
  for (const data of request.encrypt.data) {
    answer.encrypt.push(await symmetricEncrypt({ key: request.encrypt.secret, data }));
  }
}

if (request.wrap) {
  const raw = Buffer.from(request.wrap.kek, "base64");
  const kek = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM", length: 256 }, false, [
    "encrypt",
  ]);
  answer.wrap = [];
  for (const key of request.wrap.keys) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, kek, Buffer.from(key, "base64"));
    answer.wrap.push({
      wrappedMk: Buffer.from(ct).toString("base64"),
      wrapIv: Buffer.from(iv).toString("base64"),
    });
  }
}

process.stdout.write(JSON.stringify(answer) + "\n");
