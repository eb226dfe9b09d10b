// Registers a passkey and signs in with it in headless Chromium, using the
// DevTools virtual authenticator (CTAP2, internal transport, resident keys,
// user verification), on a page served by mana-auth itself.
// Usage: node passkeys.mjs <baseUrl> <accessToken> <expectedEmail>
import { chromium } from 'playwright-core';

const [base, accessToken, expectedEmail] = process.argv.slice(2);
if (!base || !accessToken || !expectedEmail) {
  console.error('usage: node passkeys.mjs <baseUrl> <accessToken> <expectedEmail>');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let code = 0;
try {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  // Any page of the server gives the right origin for the ceremony.
  await page.goto(base + '/health');
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  const result = await page.evaluate(async ({ accessToken }) => {
    const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
    const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const post = async (path, body, token) => {
      const r = await fetch(path, {
        method: 'POST',
        headers: Object.assign({ 'content-type': 'application/json' }, token ? { authorization: 'Bearer ' + token } : {}),
        body: JSON.stringify(body),
      });
      return { status: r.status, body: await r.json() };
    };
    const clean = (o) => JSON.parse(JSON.stringify(o, (k, v) => (v === null ? undefined : v)));

    // Registration.
    const ro = await post('/api/v1/auth/passkeys/register/options', {}, accessToken);
    if (ro.status !== 200) return { step: 'register/options', ro };
    const pk = clean(ro.body.publicKey);
    pk.challenge = b64(pk.challenge);
    pk.user.id = b64(pk.user.id);
    pk.excludeCredentials = (pk.excludeCredentials || []).map((c) => ({ ...c, id: b64(c.id) }));
    const created = await navigator.credentials.create({ publicKey: pk });
    const reg = {
      id: created.id, rawId: enc(created.rawId), type: created.type,
      response: {
        attestationObject: enc(created.response.attestationObject),
        clientDataJSON: enc(created.response.clientDataJSON),
        transports: created.response.getTransports ? created.response.getTransports() : [],
      },
      extensions: created.getClientExtensionResults(),
    };
    const rv = await post('/api/v1/auth/passkeys/register/verify', { challengeId: ro.body.challengeId, credential: reg, name: 'Chromium' }, accessToken);
    if (rv.status !== 200) return { step: 'register/verify', rv };

    // Discoverable sign-in: no email given.
    const ao = await post('/api/v1/auth/passkeys/authenticate/options', {});
    if (ao.status !== 200) return { step: 'authenticate/options', ao };
    const rq = clean(ao.body.publicKey);
    rq.challenge = b64(rq.challenge);
    rq.allowCredentials = (rq.allowCredentials || []).map((c) => ({ ...c, id: b64(c.id) }));
    const got = await navigator.credentials.get({ publicKey: rq });
    const assertion = {
      id: got.id, rawId: enc(got.rawId), type: got.type,
      response: {
        authenticatorData: enc(got.response.authenticatorData),
        clientDataJSON: enc(got.response.clientDataJSON),
        signature: enc(got.response.signature),
        userHandle: got.response.userHandle ? enc(got.response.userHandle) : null,
      },
      extensions: got.getClientExtensionResults(),
    };
    const av = await post('/api/v1/auth/passkeys/authenticate/verify', { challengeId: ao.body.challengeId, credential: assertion });
    return { step: 'done', registered: rv.body.passkey, signedIn: av };
  }, { accessToken });

  const creds = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  console.log(JSON.stringify({ result, residentCredentials: creds.credentials.filter((c) => c.isResidentCredential).length, problems }));
  const ok = result.step === 'done' && result.signedIn.status === 200
    && result.signedIn.body.user && result.signedIn.body.user.email === expectedEmail
    && typeof result.signedIn.body.accessToken === 'string' && problems.length === 0;
  if (!ok) code = 1;
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
