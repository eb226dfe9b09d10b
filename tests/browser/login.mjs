// Drives GET /login in headless Chromium: a wrong password shows an error,
// a foreign callbackURL is refused, the right password follows an allowed
// callbackURL (answered by a stub of the app), and the session cookie works.
// Fails on any console error, page error or CSP violation.
// Usage: node login.mjs <baseUrl> <email> <password> <appOrigin>
import { launch, watchedContext } from './launch.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, email, password, appOrigin] = process.argv.slice(2);
if (!base || !email || !password || !appOrigin) {
  console.error('usage: node login.mjs <baseUrl> <email> <password> <appOrigin>');
  process.exit(2);
}
const artifacts = process.env.ARTIFACTS_DIR || 'target/browser-artifacts';
mkdirSync(artifacts, { recursive: true });
const problems = [];
const step = (m) => console.log('step:', m);

const browser = await launch();
let failed = false;
try {
  const context = await watchedContext(browser);
  // The app the callback leads to: a stub page (no network here).
  await context.route(appOrigin + '/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="app">app</p>' }));
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const expected = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The refused attempts answer 401/403 on purpose.
    if (/status of 40[13]/.test(m.text())) { expected.push(m.text()); return; }
    problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('response', (r) => { if (r.status() >= 500) problems.push('HTTP ' + r.status() + ' ' + r.url()); });

  step('headers');
  const resp = await page.goto(base + '/login?callbackURL=' + encodeURIComponent(appOrigin + '/home'));
  const csp = resp.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'") || !csp.includes("frame-ancestors 'none'")) {
    throw new Error('missing CSP: ' + csp);
  }
  if (resp.headers()['x-frame-options'] !== 'DENY') throw new Error('missing X-Frame-Options');

  step('wrong password');
  await page.fill('#email', email);
  await page.fill('#password', 'not-the-password');
  await page.click('#submit');
  await page.waitForSelector('#message:not([hidden])');
  const wrong = await page.textContent('#message');
  if (!/wrong email or password/i.test(wrong)) throw new Error('unexpected message: ' + wrong);

  step('foreign callback refused');
  await page.goto(base + '/login?callbackURL=' + encodeURIComponent('https://evil.example.com/steal'));
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#submit');
  await page.waitForSelector('#message:not([hidden])');
  const refused = await page.textContent('#message');
  if (!/callbackURL/i.test(refused)) throw new Error('unexpected message: ' + refused);
  if (!page.url().startsWith(base)) throw new Error('navigated away: ' + page.url());

  step('sign in and follow the callback');
  await page.goto(base + '/login?callbackURL=' + encodeURIComponent(appOrigin + '/home'));
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([
    page.waitForURL(appOrigin + '/home'),
    page.click('#submit'),
  ]);
  await page.screenshot({ path: join(artifacts, 'login-done.png') });

  step('the session cookie is set for the server');
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'mana.session_token');
  if (!session || !session.httpOnly) throw new Error('no HttpOnly session cookie: ' + JSON.stringify(cookies));
  const check = await context.request.get(base + '/api/auth/get-session');
  const body = await check.json();
  if (!body || body.user.email !== email) throw new Error('get-session: ' + JSON.stringify(body));
  console.log('signed in as', body.user.email, '; refused attempts logged:', expected.length);
} catch (e) {
  failed = true;
  console.error('FAILED:', e.message);
}
await browser.close();
if (problems.length) {
  console.error('problems:\n' + problems.join('\n'));
  failed = true;
}
process.exit(failed ? 1 : 0);
