// Drives the admin page in headless Chromium and fails on any console
// error, page error or CSP violation.
// Usage: node admin.mjs <baseUrl> <adminEmail> <password>
// Env: EXPECT_TOTAL_USERS, EXPECT_NEW_USERS_7D, SEARCH_EMAIL, ARTIFACTS_DIR.
import { launch, watchedContext } from './launch.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, email, password] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error('usage: node admin.mjs <baseUrl> <adminEmail> <password>');
  process.exit(2);
}
const artifacts = process.env.ARTIFACTS_DIR || 'target/browser-artifacts';
mkdirSync(artifacts, { recursive: true });
const searchEmail = process.env.SEARCH_EMAIL;
const problems = [];
const step = (m) => console.log('step:', m);

const browser = await launch();
let failed = false;
try {
  const context = await watchedContext(browser, { viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('response', (r) => { if (r.status() >= 500) problems.push('HTTP ' + r.status() + ' ' + r.url()); });
  const shot = (name) => page.screenshot({ path: join(artifacts, name + '.png'), fullPage: true });

  async function signIn() {
    await page.fill('#login-email', email);
    await page.fill('#login-password', password);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');
  }

  step('open /admin');
  const res = await page.goto(base + '/admin');
  const csp = res.headers()['content-security-policy'] || '';
  if (!csp.includes("script-src 'self'") || csp.includes('unsafe-inline')) problems.push('bad CSP: ' + csp);
  await page.waitForSelector('#login:not([hidden])');
  await shot('01-login');

  step('sign in');
  await signIn();
  await page.waitForSelector('#stat-totalUsers');
  const stat = async (k) => Number((await page.textContent('#stat-' + k)).trim());
  const total = await stat('totalUsers');
  if (process.env.EXPECT_TOTAL_USERS && total !== Number(process.env.EXPECT_TOTAL_USERS)) {
    problems.push(`totalUsers shows ${total}, expected ${process.env.EXPECT_TOTAL_USERS}`);
  }
  const new7 = await stat('newUsers7d');
  if (process.env.EXPECT_NEW_USERS_7D && new7 !== Number(process.env.EXPECT_NEW_USERS_7D)) {
    problems.push(`newUsers7d shows ${new7}, expected ${process.env.EXPECT_NEW_USERS_7D}`);
  }
  if ((await stat('loginSuccess7d')) < 1) problems.push('loginSuccess7d should count this sign-in');
  await shot('02-dashboard');

  step('search a user');
  await page.click('nav a[href="#/users"]');
  await page.waitForSelector('#user-search');
  await page.fill('#user-search', searchEmail);
  await page.click('form[role=search] button[type=submit]');
  await page.waitForFunction(() => (document.querySelector('#page-info')?.textContent || '').endsWith('· 1 total'));
  const userLink = page.locator('table a', { hasText: searchEmail });
  await userLink.waitFor();
  if ((await page.locator('tbody tr').count()) !== 1) problems.push('search should find exactly one user');
  await shot('03-users');

  step('change tier');
  await userLink.click();
  await page.waitForSelector('#tier-select');
  await page.selectOption('#tier-select', 'founder');
  await page.click('#save-tier');
  await page.waitForFunction(() => document.querySelector('#detail-tier')?.textContent === 'founder');
  const detailUrl = page.url();
  await shot('04-user-detail');

  step('reload and see the tier persist');
  await page.reload();
  await page.waitForSelector('#login:not([hidden])');
  await signIn();
  await page.waitForSelector('#detail-tier');
  if (page.url() !== detailUrl) problems.push('after sign-in the page should return to ' + detailUrl);
  const tier = await page.textContent('#detail-tier');
  if (tier !== 'founder') problems.push('tier after reload is ' + tier);

  step('open the sync changes of the user');
  await page.click('a[href^="#/sync?userId="]');
  await page.waitForSelector('#changes');
  const text = await page.textContent('#changes');
  if (!text.includes('profile / userContext')) problems.push('userContext change not shown');
  if (!text.includes('"interests"')) problems.push('change JSON not shown');
  await shot('05-sync');

  step('other screens');
  for (const [href, title, name] of [['#/spaces', 'Spaces', '06-spaces'], ['#/events', 'Security events', '07-events'], ['#/outbox', 'Mail outbox', '08-outbox']]) {
    await page.click(`nav a[href="${href}"]`);
    await page.waitForFunction((t) => document.querySelector('#view h1')?.textContent === t, title);
    await shot(name);
  }
  await page.click('nav a[href="#/spaces"]');
  await page.locator('table a').first().click();
  await page.waitForSelector('h2:text("Members")');
  await shot('09-space');

  step('phone width, dark scheme');
  await page.setViewportSize({ width: 375, height: 800 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.click('nav a[href="#/dashboard"]');
  await page.waitForFunction(() => document.querySelector('#view h1')?.textContent === 'Dashboard');
  await shot('10-phone-dark');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) problems.push('page scrolls sideways at phone width by ' + overflow + 'px');
  if (await page.evaluate(() => Object.keys(localStorage).length + Object.keys(sessionStorage).length) !== 0) {
    problems.push('something was written to web storage');
  }
  if ((await context.cookies()).length !== 0) problems.push('a cookie was stored');
} catch (e) {
  failed = true;
  console.error('FAILED:', e.message);
} finally {
  await browser.close();
}
for (const p of problems) console.error('problem:', p);
process.exit(failed || problems.length ? 1 : 0);
