// Drives the admin page in headless Chromium and fails on any console
// error, page error or CSP violation.
// Usage: node admin.mjs <baseUrl> <adminEmail> <password>
// Env: EXPECT_TOTAL_USERS, EXPECT_NEW_USERS_7D, SEARCH_EMAIL, ARTIFACTS_DIR,
// EXPECT_TODAY (UTC date), EXPECT_DAYS (JSON: stored per-day figures before today), EXPECT_VERSION.
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

  step('activity chart: one point per day and series, the stored figures');
  await page.waitForSelector('#activity-chart');
  const chart = await page.evaluate(() => {
    const svg = document.querySelector('#activity-chart');
    const series = {};
    for (const g of svg.querySelectorAll('g.series')) {
      series[g.dataset.series] = [...g.querySelectorAll('.point')].map((p) => [p.dataset.date, Number(p.dataset.value)]);
    }
    return { days: Number(svg.dataset.days), series, title: svg.querySelector('title')?.textContent || '' };
  });
  if (chart.days !== 30) problems.push('chart covers ' + chart.days + ' days, not 30');
  const keys = ['signIns', 'failedSignIns', 'signUps'];
  for (const k of keys) {
    const points = chart.series[k] || [];
    if (points.length !== 30) problems.push(`series ${k} has ${points.length} points, not one per day`);
    for (let i = 1; i < points.length; i++) {
      const step = (Date.parse(points[i][0]) - Date.parse(points[i - 1][0])) / 86400000;
      if (step !== 1) problems.push(`series ${k}: ${points[i - 1][0]} is followed by ${points[i][0]}`);
    }
    if (process.env.EXPECT_TODAY && points.at(-1)?.[0] !== process.env.EXPECT_TODAY) {
      problems.push(`series ${k} ends on ${points.at(-1)?.[0]}, not today ${process.env.EXPECT_TODAY}`);
    }
  }
  for (const day of JSON.parse(process.env.EXPECT_DAYS || '[]')) {
    for (const k of keys) {
      const point = (chart.series[k] || []).find((p) => p[0] === day.date);
      if (!point || point[1] !== day[k]) problems.push(`${day.date} ${k}: chart shows ${point?.[1]}, stored ${day[k]}`);
    }
  }
  const today = (chart.series.signIns || []).at(-1);
  if (!today || today[1] < 1) problems.push("today's sign-ins should count this sign-in");
  await page.locator('#activity-chart').screenshot({ path: join(artifacts, '02-activity-chart.png') });

  step('system panel');
  const sys = async (id) => ((await page.textContent('#sys-' + id)) || '').trim();
  if (process.env.EXPECT_VERSION && (await sys('version')) !== process.env.EXPECT_VERSION) {
    problems.push('version shows ' + (await sys('version')));
  }
  if (!/^\d+$/.test(await sys('schema'))) problems.push('schema version shows ' + (await sys('schema')));
  if (!/\d/.test(await sys('db-size'))) problems.push('database size shows ' + (await sys('db-size')));
  if (!/^\d+$/.test(await sys('mail-pending'))) problems.push('mail pending shows ' + (await sys('mail-pending')));
  if (Number(await sys('hash-threads')) < 1) problems.push('hash threads show ' + (await sys('hash-threads')));
  if ((await sys('key-id')).length < 8) problems.push('signing key id shows ' + (await sys('key-id')));
  await page.locator('#system-panel').screenshot({ path: join(artifacts, '02-system-panel.png') });
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
