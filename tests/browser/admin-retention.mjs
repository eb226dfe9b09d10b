// Drives the admin page's Retention screen in headless Chromium: the policy
// and the per-user limits are shown, "Run now" runs the job and shows what
// it removed. Fails on any console error, page error or 5xx.
// Usage: node admin-retention.mjs <baseUrl> <adminEmail> <password>
// Env: EXPECT_EVENTS_DAYS, EXPECT_MIN_EVENTS_REMOVED, ARTIFACTS_DIR.
import { launch, watchedContext } from './launch.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, email, password] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error('usage: node admin-retention.mjs <baseUrl> <adminEmail> <password>');
  process.exit(2);
}
const artifacts = process.env.ARTIFACTS_DIR || 'target/browser-artifacts';
mkdirSync(artifacts, { recursive: true });
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

  step('sign in');
  await page.goto(base + '/admin');
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');

  step('open Retention');
  await page.click('nav a[href="#/retention"]');
  await page.waitForSelector('#policy-securityEventsDays');
  const days = (await page.textContent('#policy-securityEventsDays')).trim();
  if (days !== process.env.EXPECT_EVENTS_DAYS) problems.push(`events kept ${days} days, expected ${process.env.EXPECT_EVENTS_DAYS}`);
  if ((await page.textContent('#limit-sessionsPerUser')).trim() !== '50') problems.push('sessions per user limit not shown');
  if (!(await page.textContent('#last-ran-at')).includes('Not run')) problems.push('a run is shown before any ran');
  await shot('retention-01-before');

  step('run now');
  await page.click('#run-retention');
  await page.waitForSelector('#last-securityEvents');
  const removed = Number((await page.textContent('#last-securityEvents')).trim());
  if (!(removed >= Number(process.env.EXPECT_MIN_EVENTS_REMOVED))) problems.push(`removed ${removed} events, expected at least ${process.env.EXPECT_MIN_EVENTS_REMOVED}`);
  await shot('retention-02-after');
} catch (e) {
  failed = true;
  console.error('FAILED:', e.message);
} finally {
  await browser.close();
}
for (const p of problems) console.error('problem:', p);
process.exit(failed || problems.length ? 1 : 0);
