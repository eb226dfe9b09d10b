// Open-redirect attempts against GET /login in headless Chromium, with a
// real sign-in each time:
//  1. callbackURL=%2F%09%2Fevil.example (`/<TAB>/evil.example`, which a
//     browser reads as `//evil.example`): the server refuses it and the page
//     stays on the server;
//  2. the page's own check: the sign-in answer is rewritten on its way to
//     the page to carry such a URL (and a foreign one); the page must not
//     follow it;
//  3. an allowed callback is still followed.
// evil.example is a stub that records every request it gets; none may
// arrive. Fails on any page error or unexpected console error.
// Usage: node login_redirect.mjs <baseUrl> <email> <password> <appOrigin>
import { launch, watchedContext } from './launch.mjs';

const [base, email, password, appOrigin] = process.argv.slice(2);
if (!base || !email || !password || !appOrigin) {
  console.error('usage: node login_redirect.mjs <baseUrl> <email> <password> <appOrigin>');
  process.exit(2);
}
const problems = [];
const evilHits = [];
const step = (m) => console.log('step:', m);

const browser = await launch();
let failed = false;
try {
  const context = await watchedContext(browser);
  await context.route('http://evil.example/**', (route) => {
    evilHits.push(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="evil">evil</p>' });
  });
  await context.route(appOrigin + '/**', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="app">app</p>' }));
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/status of 403/.test(m.text())) return; // the refused callback
    problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));

  async function signIn(callbackParam) {
    await page.goto(base + '/login?callbackURL=' + callbackParam);
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.click('#submit');
  }

  async function staysHere(what) {
    await page.waitForSelector('#message:not([hidden])');
    // Give a navigation that should not happen the time to happen.
    await page.waitForTimeout(300);
    if (!page.url().startsWith(base)) throw new Error(what + ': navigated to ' + page.url());
    if (evilHits.length) throw new Error(what + ': evil.example was requested: ' + evilHits.join(', '));
    return page.textContent('#message');
  }

  step('a tab inside the callback is refused by the server');
  await signIn('%2F%09%2Fevil.example');
  const refused = await staysHere('tab callback');
  if (!/callbackURL/i.test(refused)) throw new Error('unexpected message: ' + refused);

  step('the page does not follow a bad url in the sign-in answer');
  for (const bad of ['/\t/evil.example', '/\n/evil.example', 'http://evil.example/x', '/\\evil.example',
    'javascript:alert(1)', 'http://u:p@' + new URL(appOrigin).host + '/']) {
    await page.route(base + '/api/auth/sign-in/email', async (route) => {
      const real = await route.fetch();
      const body = await real.json();
      body.url = bad;
      await route.fulfill({ response: real, json: body });
    });
    await signIn(encodeURIComponent(appOrigin + '/home'));
    const text = await staysHere(JSON.stringify(bad));
    if (!/not allowed/i.test(text)) throw new Error('unexpected message for ' + JSON.stringify(bad) + ': ' + text);
    await page.unroute(base + '/api/auth/sign-in/email');
  }

  step('an allowed callback is followed');
  await signIn(encodeURIComponent(appOrigin + '/home'));
  await page.waitForURL(appOrigin + '/home');
  if (evilHits.length) throw new Error('evil.example was requested: ' + evilHits.join(', '));
  console.log('refused every redirect to evil.example; followed', page.url());
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
