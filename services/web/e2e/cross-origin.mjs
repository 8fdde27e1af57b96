// A page on another origin tries to drive the dashboard through the user's browser.
// Driven by services/backend/tests/test_backend_web_cross_origin.py, which starts the real
// `vlmhb serve` (BACKEND) and the attacker's HTTP server (ATTACKER, another port), then
// checks on the server that nothing was created.
//
// Steps: log in the way a user does (open BACKEND/?token=TOKEN: the session cookie is set
// in this browser); a same-origin control call (it must pass); then open ATTACKER, whose
// script sends no-cors text/plain and multipart fetches, a CORS YAML fetch, form posts and a
// WebSocket to BACKEND with credentials. Every response from BACKEND is recorded with its
// status (network), and every changing request with the headers Chromium really sent
// (raw, from the DevTools protocol: Origin, whether the session cookie went along).
// Results: JSON in OUT.
//
// Env: BACKEND, ATTACKER, TOKEN, OUT, CHROMIUM (default /usr/bin/chromium).

import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const backend = process.env.BACKEND;
const attacker = process.env.ATTACKER;
const token = process.env.TOKEN;
const out = process.env.OUT;
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!backend || !attacker || !token || !out) throw new Error('BACKEND, ATTACKER, TOKEN and OUT are required');

const browser = await chromium.launch({
  executablePath: browserPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
});
const result = { network: [], control: null, attack: null, cookie: null, errors: [] };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => result.errors.push(String(err)));
  // the headers Chromium really sent (cookies and Origin are added below the page)
  const raw = new Map();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => raw.set(e.requestId, e.headers));
  result.raw = [];
  cdp.on('Network.requestWillBeSent', (e) => {
    if (!e.request.url.startsWith(backend) || e.request.method === 'GET') return;
    result.raw.push({ id: e.requestId, method: e.request.method, url: e.request.url, page: e.documentURL });
  });
  page.on('response', async (response) => {
    const request = response.request();
    const navigation = request.resourceType() === 'document' && request.method() === 'GET';
    if (!request.url().startsWith(backend) || navigation) return;
    const headers = await request.allHeaders();
    result.network.push({
      page: page.url(),
      method: request.method(),
      url: request.url(),
      status: response.status(),
      contentType: headers['content-type'] ?? null,
    });
  });

  // the user logs in with the URL `vlmhb serve` printed
  await page.goto(`${backend}/?token=${token}`);
  const cookie = (await context.cookies(backend)).find((c) => c.name === 'vlmhb_session');
  result.cookie = cookie ? { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, path: cookie.path } : null;
  result.landed = page.url();

  // control: the dashboard's own origin may call the API with the cookie
  result.control = await page.evaluate(async () => {
    const list = await fetch('/api/v1/experiments', { credentials: 'same-origin' });
    const cancel = await fetch('/api/v1/experiments/nope/cancel', { method: 'POST', credentials: 'same-origin' });
    return { list: list.status, cancel: cancel.status };
  });

  // the attack: another origin, same browser, same cookie jar
  await page.goto(attacker);
  await page.waitForFunction(() => window.attackDone === true, null, { timeout: 30_000 });
  result.attack = await page.evaluate(() => window.attackResults);
  await page.waitForTimeout(500); // late response events
  for (const entry of result.raw) {
    const headers = Object.fromEntries(Object.entries(raw.get(entry.id) ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    entry.origin = headers.origin ?? null;
    entry.sessionCookieSent = (headers.cookie ?? '').includes('vlmhb_session=');
    entry.contentType = headers['content-type'] ?? null;
    entry.rawHeaders = raw.has(entry.id);
  }
  await context.close();
} catch (err) {
  result.errors.push(err.stack ?? String(err));
} finally {
  await browser.close().catch(() => {});
  writeFileSync(out, JSON.stringify(result, null, 2));
}
