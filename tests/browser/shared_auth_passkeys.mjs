// The calls of the original service's shared auth client
// (packages/shared-auth, authService) that read passkeys, sessions and
// security events, made in headless Chromium the way that client makes
// them: its paths, headers and bodies, @simplewebauthn/browser (the
// version it depends on, pinned in package.json) for the ceremonies, and
// only the fields it reads. The DevTools virtual authenticator answers.
// Usage: node shared_auth_passkeys.mjs <baseUrl> <accessToken> <expectedEmail>
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [base, accessToken, expectedEmail] = process.argv.slice(2);
if (!base || !accessToken || !expectedEmail) {
  console.error('usage: node shared_auth_passkeys.mjs <baseUrl> <accessToken> <expectedEmail>');
  process.exit(2);
}
const bundle = fileURLToPath(
  new URL('./node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js', import.meta.url),
);

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
  await page.goto(base + '/health');
  await page.addScriptTag({ path: bundle });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  const result = await page.evaluate(async ({ appToken }) => {
    const { startRegistration, startAuthentication } = window.SimpleWebAuthnBrowser;
    const bearer = { Authorization: `Bearer ${appToken}` };
    // The list readers: the JSON answer when ok, else [].
    const list = async (path) => {
      const res = await fetch(path, { headers: bearer });
      return res.ok ? res.json() : [];
    };
    const out = {};

    // registerPasskey(friendlyName)
    const optionsRes = await fetch('/api/v1/auth/passkeys/register/options', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...bearer },
    });
    if (!optionsRes.ok) return { step: 'register/options', status: optionsRes.status };
    const { options, challengeId } = await optionsRes.json();
    const credential = await startRegistration({ optionsJSON: options });
    const verifyRes = await fetch('/api/v1/auth/passkeys/register/verify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...bearer },
      body: JSON.stringify({ challengeId, credential, friendlyName: 'Work laptop' }),
    });
    out.registered = verifyRes.ok;
    if (!verifyRes.ok) return { step: 'register/verify', status: verifyRes.status, body: await verifyRes.text() };

    // listPasskeys, getSecurityEvents, listSessions
    out.passkeys = await list('/api/v1/auth/passkeys');
    out.events = await list('/api/v1/auth/security-events?limit=50');
    out.sessions = await list('/api/v1/auth/sessions');

    // signInWithPasskey()
    const authRes = await fetch('/api/v1/auth/passkeys/authenticate/options', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    if (!authRes.ok) return { step: 'authenticate/options', status: authRes.status };
    const { options: webauthnOptions, challengeId: authChallenge } = await authRes.json();
    const assertion = await startAuthentication({ optionsJSON: webauthnOptions });
    const signedRes = await fetch('/api/v1/auth/passkeys/authenticate/verify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ challengeId: authChallenge, credential: assertion }),
    });
    if (!signedRes.ok) return { step: 'authenticate/verify', status: signedRes.status, body: await signedRes.text() };
    const data = await signedRes.json();
    out.signedIn = {
      accessToken: typeof data.accessToken === 'string',
      refreshToken: typeof data.refreshToken === 'string',
      email: data.user?.email || '',
    };
    // The new token reads the lists too.
    const again = await fetch('/api/v1/auth/passkeys', { headers: { Authorization: `Bearer ${data.accessToken}` } });
    out.passkeysAfter = again.ok ? await again.json() : [];
    return { step: 'done', ...out };
  }, { appToken: accessToken });

  console.log(JSON.stringify({ result, problems }));
  const ok = result.step === 'done' && problems.length === 0
    && result.signedIn.accessToken && result.signedIn.refreshToken
    && result.signedIn.email === expectedEmail;
  if (!ok) code = 1;
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
