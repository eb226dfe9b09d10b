// Drives the personas screens of the admin page in headless Chromium: list,
// detail with actions and feedback, create through the form, delete. Fails
// on any console error, page error or CSP violation.
// Usage: node admin-personas.mjs <baseUrl> <adminEmail> <password>
// Env: PERSONA_EMAIL (an existing persona with actions and feedback),
//      ARTIFACTS_DIR.
import { launch, watchedContext } from './launch.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, email, password] = process.argv.slice(2);
const existing = process.env.PERSONA_EMAIL;
if (!base || !email || !password || !existing) {
  console.error('usage: PERSONA_EMAIL=… node admin-personas.mjs <baseUrl> <adminEmail> <password>');
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
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('status of 400')) problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('response', (r) => { if (r.status() >= 500) problems.push('HTTP ' + r.status() + ' ' + r.url()); });
  page.on('dialog', (d) => d.accept());
  const shot = (name) => page.screenshot({ path: join(artifacts, name + '.png'), fullPage: true });
  const statusText = () => page.textContent('#status');

  step('sign in');
  await page.goto(base + '/admin');
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');

  step('list');
  await page.click('nav a[href="#/personas"]');
  await page.waitForFunction(() => document.querySelector('#view h1')?.textContent === 'Personas');
  const row = page.locator('table a', { hasText: existing });
  await row.waitFor();
  if ((await page.locator('tbody tr').count()) !== 1) problems.push('the list should show exactly one persona');
  await shot('p1-personas');

  step('detail with actions and feedback');
  await row.click();
  await page.waitForSelector('#persona-system-prompt');
  const view = await page.textContent('#view');
  for (const want of ['todo.create', 'notes.search', 'timeout', '4.00', 'zu langsam', 'adhd-student']) {
    if (!view.includes(want)) problems.push('detail does not show ' + want);
  }
  await shot('p2-persona-detail');

  step('a bad module mix is refused in the page');
  await page.click('nav a[href="#/personas"]');
  await page.waitForSelector('#persona-form');
  await page.fill('#persona-email', 'ben@mana.test');
  await page.fill('#persona-archetype', 'solo-dev');
  await page.fill('#persona-prompt', 'You are Ben, a solo developer.');
  await page.fill('#persona-mix', '{not json');
  await page.click('#persona-save');
  await page.waitForFunction(() => (document.querySelector('#status')?.textContent || '').includes('Module mix must be JSON'));

  step('the server names what is wrong');
  await page.fill('#persona-mix', '{"todo": "lots"}');
  await page.click('#persona-save');
  await page.waitForFunction(() => (document.querySelector('#status')?.textContent || '').includes('moduleMix object required'));

  step('create through the form');
  await page.fill('#persona-mix', '{"todo": 0.7, "journal": 0.3}');
  await page.selectOption('#persona-cadence', 'hourly');
  await page.click('#persona-save');
  const created = page.locator('table a', { hasText: 'ben@mana.test' });
  await created.waitFor();
  if (!(await statusText()).includes('Persona saved')) problems.push('no confirmation after saving');
  await shot('p3-persona-created');

  step('delete it');
  await created.click();
  await page.waitForSelector('#persona-delete');
  if ((await page.textContent('#persona-archetype-value')) !== 'solo-dev') problems.push('new persona shows the wrong archetype');
  await page.click('#persona-delete');
  await page.waitForFunction(() => document.querySelector('#view h1')?.textContent === 'Personas' && location.hash === '#/personas');
  await page.locator('table a', { hasText: existing }).waitFor();
  if (await page.locator('table a', { hasText: 'ben@mana.test' }).count()) problems.push('deleted persona still listed');
  await shot('p4-persona-deleted');

  step('phone width');
  await page.setViewportSize({ width: 375, height: 800 });
  await page.locator('table a', { hasText: existing }).click();
  await page.waitForSelector('#persona-system-prompt');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) problems.push('persona detail scrolls sideways at phone width by ' + overflow + 'px');
  await shot('p5-persona-phone');
} catch (e) {
  failed = true;
  console.error('FAILED:', e.message);
} finally {
  await browser.close();
}
for (const p of problems) console.error('problem:', p);
process.exit(failed || problems.length ? 1 : 0);
