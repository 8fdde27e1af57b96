// End-to-end check of the UI against a real `vlmhb serve`:
// build a tiny dataset, start the server with the built UI, submit an experiment through the
// New experiment form, watch it complete live, open Compare (Plotly) and Samples; on the
// Hosts page add this machine as a host (connection local), press "Check (dry run)" (the
// bootstrap playbook in check mode: real Ansible) and see its live log and facts; on the
// Catalog page add a model and see it listed (hosts and catalog pages at 1280 px). The
// browser logs in the way a user does: the login prompt, then the /?token= link.
// Screenshots go to e2e-artifacts/. Exit code 0 only when every step passed.
//
// Env: VLMHB_BIN (default ../../.venv/bin/vlmhb), CHROMIUM (default /usr/bin/chromium),
//      E2E_TIMEOUT_S (default 120).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, openSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { submitChecks } from './submit.mjs';
import { checkViews } from './views.mjs';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vlmhb = process.env.VLMHB_BIN ?? path.resolve(webDir, '../../.venv/bin/vlmhb');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = path.join(webDir, 'e2e-artifacts');
const dist = path.join(webDir, 'dist');
const deadlineS = Number(process.env.E2E_TIMEOUT_S ?? 120);
const token = `e2e-${randomBytes(18).toString('hex')}`;

const log = (...args) => console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(base, server, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (server.exitCode !== null) throw new Error(`vlmhb serve exited with ${server.exitCode}`);
    try {
      const r = await fetch(`${base}/api/v1/health`);
      await r.arrayBuffer(); // a consumed body frees the connection (uvicorn waits for it on stop)
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('vlmhb serve did not become healthy');
}

function stopServer(server) {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 8000);
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      log(`server exited (${signal ?? code})`);
      resolve();
    });
    try {
      process.kill(-server.pid, 'SIGTERM'); // its own process group: the server and its stages
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

async function main() {
  if (!existsSync(path.join(dist, 'index.html'))) throw new Error('dist/ missing: run `npm run build` first');
  if (!existsSync(vlmhb)) throw new Error(`vlmhb not found at ${vlmhb} (set VLMHB_BIN)`);
  if (!existsSync(browserPath)) throw new Error(`chromium not found at ${browserPath}`);
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vlmhb-web-e2e-'));
  const dataRoot = path.join(tmp, 'data');
  const dataset = path.join(dataRoot, 'tiny');
  let server;
  let browser;
  const failures = [];
  try {
    log('dataset:', dataset);
    const synth = spawnSync(
      vlmhb,
      ['datasets', 'synth', '--out', dataset, '--n', '1', '--seed', '3', '--kind', 'passport', '--format', 'vqa_csv'],
      { encoding: 'utf8' },
    );
    if (synth.status !== 0) throw new Error(`vlmhb datasets synth failed:\n${synth.stdout}\n${synth.stderr}`);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const serverLog = openSync(path.join(artifacts, 'server.log'), 'w');
    server = spawn(
      vlmhb,
      ['serve', '--port', String(port), '--data-dir', path.join(tmp, 'state'), '--runs-dir', path.join(tmp, 'runs')],
      {
        cwd: tmp,
        env: {
          ...process.env,
          // ansible-playbook (the bootstrap's dry run) lives beside vlmhb in the venv
          PATH: `${path.dirname(vlmhb)}${path.delimiter}${process.env.PATH ?? ''}`,
          VLMHB_DATA_ROOT: dataRoot,
          VLMHB_WEB_DIST: dist,
          VLMHB_AUTH_TOKEN: token,
          VLMHB_HOST_CONNECTIONS: 'ssh,local',
        },
        stdio: ['ignore', serverLog, serverLog],
        detached: true,
      },
    );
    log(`vlmhb serve pid ${server.pid} on ${base}`);
    await waitHealthy(base, server, 30_000);

    browser = await chromium.launch({
      executablePath: browserPath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => {
      // the 401s before the login and the 422 of the deliberately invalid config are expected
      if (msg.type() === 'error' && !/status of (401|422)/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
    const shot = async (name) => {
      await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
      log('screenshot', `${name}.png`);
    };
    const step = async (name, fn) => {
      log('step:', name);
      try {
        await fn();
      } catch (err) {
        failures.push(`${name}: ${err.message}`);
        log('FAILED:', name, err.message);
        await shot(`failed-${name.replace(/\W+/g, '-')}`).catch(() => {});
        throw err;
      }
    };

    await step('login', async () => {
      await page.goto(`${base}/`);
      await page.getByRole('heading', { name: 'Log in' }).waitFor(); // 401 -> the prompt
      await page.getByLabel('API token').fill('wrong-token-0123456789');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('form').getByRole('alert').getByText('wrong token').waitFor();
      await page.goto(`${base}/?token=${token}`); // the URL vlmhb serve prints
      if (page.url() !== `${base}/`) throw new Error(`token left in the URL: ${page.url()}`);
      const cookies = await context.cookies(base);
      const session = cookies.find((c) => c.name === 'vlmhb_session');
      if (!session || !session.httpOnly || session.sameSite !== 'Strict') {
        throw new Error(`session cookie ${JSON.stringify(session)}`);
      }
      if (cookies.some((c) => c.value.includes(token))) throw new Error('a cookie holds the token');
    });

    await step('list page', async () => {
      await page.goto(`${base}/`);
      await page.getByRole('heading', { name: 'Experiments' }).waitFor();
      await page.getByText('No experiments yet').waitFor();
      await shot('01-list-empty');
    });

    await step('invalid config shows the API error', async () => {
      await page.getByRole('link', { name: '+ New experiment' }).click();
      await page.getByTestId('config-input').fill('name: broken\nmodels: []\n');
      await page.getByRole('button', { name: 'Submit' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      const text = await alert.innerText();
      if (!/experiment\.yaml:\d+/.test(text) || !/field/.test(text)) {
        throw new Error(`error box does not show the API message (file:line, field): ${text}`);
      }
      await shot('02-new-error');
    });

    const yaml = [
      'name: web-e2e',
      'models:',
      '  - name: oracle',
      '    backend: scripted',
      `    params: {answers_file: ${dataset}/annotation.csv, answer_column: answer, latency_ms: 50}`,
      'datasets:',
      '  - {name: tiny, format: vqa_csv, path: tiny}',
      'tasks:',
      '  - name: vqa',
      '    dataset: tiny',
      '    kind: vqa',
      '    metrics: [cer, exact_match]',
      '',
    ].join('\n');

    const seen = new Set();
    await step('submit and follow live', async () => {
      await page.getByTestId('config-input').fill(yaml);
      await page.getByRole('button', { name: 'Submit' }).click();
      await page.waitForURL(/\/experiments\/[0-9a-f]+$/, { timeout: 15_000 });
      const status = page.getByTestId('experiment-status');
      await status.waitFor();
      await page.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 15_000 });
      seen.add(await status.getAttribute('data-status'));
      // record every status shown while waiting for COMPLETED (pushed over the WebSocket)
      let running = false;
      const end = Date.now() + deadlineS * 1000;
      for (;;) {
        const s = await status.getAttribute('data-status');
        seen.add(s);
        if (s === 'RUNNING' && !running && (await page.getByTestId('run-row').count()) > 0) {
          running = true;
          await shot('03-detail-running');
        }
        if (s === 'COMPLETED') break;
        if (['FAILED', 'CANCELLED', 'INTERRUPTED'].includes(s)) {
          await shot('03-detail-failed');
          throw new Error(`experiment ended ${s}: ${await page.locator('.message').allInnerTexts()}`);
        }
        if (Date.now() > end) throw new Error(`not COMPLETED after ${deadlineS} s (status ${s})`);
        await page.waitForTimeout(100);
      }
      log('statuses seen:', [...seen].join(' → '));
      // the run row finished its three stages and links its report
      const row = page.getByTestId('run-row').first();
      await row.getByRole('link', { name: /report\.html/ }).waitFor({ timeout: 10_000 });
      const badges = await row.locator('.badge').evaluateAll((els) => els.map((e) => e.dataset.status));
      if (badges.join() !== 'COMPLETED,COMPLETED,COMPLETED') throw new Error(`stage states ${badges}`);
      // where the stage ran (the local executor: this host) and its one try, from the history
      const inference = row.getByTestId('stage-inference');
      const placement = (await inference.getByTestId('stage-placement').textContent())?.trim();
      if (placement !== 'local') throw new Error(`inference placement ${placement}`);
      await inference.locator('summary', { hasText: 'tries' }).click();
      const tries = inference.getByTestId('attempt');
      await tries.first().locator('[data-status="COMPLETED"]').waitFor({ timeout: 10_000 });
      if ((await tries.count()) !== 1) throw new Error(`${await tries.count()} tries shown`);
      const href = await row.getByRole('link', { name: /report\.html/ }).getAttribute('href');
      const report = await page.request.get(new URL(href, base).toString());
      if (!report.ok()) throw new Error(`report link ${href} answered ${report.status()}`);
      if (!(await report.text()).includes('<html')) throw new Error('report.html is not HTML');
      await page.getByRole('link', { name: /Experiment report/ }).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(500); // progress bars animate
      await shot('04-detail-completed');
    });

    await step('list shows it', async () => {
      await page.getByRole('link', { name: 'Experiments' }).first().click();
      const row = page.getByTestId('experiments-table').locator('tbody tr').first();
      await row.getByText('web-e2e').waitFor();
      await row.locator('[data-status="COMPLETED"]').waitFor();
      await shot('05-list');
      await row.getByRole('link', { name: 'web-e2e' }).click();
    });

    await step('compare charts', async () => {
      await page.getByRole('link', { name: 'Compare' }).click();
      await page.locator('.js-plotly-plot').first().waitFor({ timeout: 30_000 });
      await page.waitForTimeout(800);
      const charts = await page.locator('.js-plotly-plot').count();
      const svgs = await page.locator('.js-plotly-plot .main-svg').count();
      log(`plotly charts: ${charts}, svgs: ${svgs}`);
      if (charts < 1 || svgs < 1) throw new Error('no Plotly chart rendered');
      const options = await page.locator('#metric option').allInnerTexts();
      if (!options.includes('cer')) throw new Error(`metric selector options ${options}`);
      await page.locator('#metric').selectOption('cer');
      await page.waitForURL(/metric=cer/);
      await page.locator('.js-plotly-plot').first().waitFor();
      await shot('06-compare');
    });

    await step('samples table', async () => {
      await page.getByRole('link', { name: 'Samples' }).click();
      const rows = page.getByTestId('sample-row');
      await rows.first().waitFor({ timeout: 15_000 });
      const count = await rows.count();
      if (count < 1) throw new Error('no sample rows');
      const first = await rows.first().innerText();
      if (!/cer/.test(first) || !/ms/.test(first)) throw new Error(`row lacks metrics/latency: ${first}`);
      // the thumbnail really loaded through the API's image link
      const img = rows.first().locator('img.thumb');
      await img.scrollIntoViewIfNeeded();
      await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), {
        timeout: 10_000,
      });
      log(`sample rows: ${count}`);
      await shot('07-samples');
    });

    await checkViews({ page, base, shot, log, step, dataset, deadlineS }); // views.mjs

    await page.setViewportSize({ width: 1280, height: 900 }); // the hosts and catalog pages fit at 1280 px
    const fits = async (what) => {
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 1280) throw new Error(`${what} is ${width} px wide (more than 1280)`);
    };

    await step('hosts: add this machine', async () => {
      await page.getByRole('link', { name: 'Hosts', exact: true }).click();
      await page.getByRole('heading', { name: 'Hosts' }).waitFor();
      await page.getByText('No hosts yet').waitFor();
      await page.getByTestId('hosts-badge').waitFor();
      const form = page.getByRole('form', { name: 'Add host' });
      await form.getByPlaceholder('gpu-01').fill('local');
      await form.getByPlaceholder('10.0.0.5').fill('127.0.0.1');
      // a key reference that is a path is refused next to its field
      await form.getByPlaceholder('gpu-fleet').fill('../id_rsa');
      await form.getByRole('button', { name: 'Add host' }).click();
      await form.getByTestId('error-ssh_key').waitFor({ timeout: 10_000 });
      await shot('hosts-01-key-refused');
      await form.getByPlaceholder('gpu-fleet').fill('');
      await form.getByRole('combobox').selectOption('local');
      await form.getByRole('button', { name: 'Add host' }).click();
      const row = page.getByTestId('host-row').filter({ hasText: 'local' });
      await row.locator('[data-status="new"]').waitFor({ timeout: 10_000 });
      await fits('the Hosts page');
      await shot('hosts-02-added');
    });

    await step('hosts: dry run with live log and facts', async () => {
      await page.getByTestId('host-row').getByRole('link', { name: 'local' }).click();
      const detail = page.getByTestId('host-detail');
      await detail.waitFor();
      await detail.getByRole('button', { name: 'Check (dry run)' }).click();
      const log = detail.getByTestId('job-log');
      await log.locator('.job-task').first().waitFor({ timeout: 30_000 }); // events while it runs
      const status = detail.getByTestId('job-status');
      const end = Date.now() + deadlineS * 1000;
      for (;;) {
        const s = await status.getAttribute('data-status');
        if (s === 'successful') break;
        if (s === 'failed' || s === 'canceled') {
          throw new Error(`dry run ${s}: ${await detail.getByTestId('job-summary').innerText()}`);
        }
        if (Date.now() > end) throw new Error(`dry run not finished after ${deadlineS} s (${s})`);
        await page.waitForTimeout(200);
      }
      const tasks = await log.locator('.job-task').count();
      const oks = await log.locator('.job-ok, .job-changed, .job-skipped').count();
      if (tasks < 2 || oks < 2) throw new Error(`log shows ${tasks} tasks, ${oks} results`);
      const facts = detail.getByTestId('host-facts');
      await facts.getByText('Kernel').waitFor({ timeout: 10_000 });
      const text = await facts.innerText();
      const kernel = os.release();
      if (!text.includes(kernel)) throw new Error(`facts do not show this kernel (${kernel}): ${text}`);
      await fits('the host detail');
      await shot('hosts-03-dry-run');
    });

    await step('catalog: add a model', async () => {
      await page.getByRole('link', { name: 'Catalog', exact: true }).click();
      await page.getByRole('heading', { name: 'Catalog' }).waitFor();
      await page.getByText('No models.').waitFor({ timeout: 10_000 }); // no registry presets here
      const table = page.getByTestId('models-table');
      const form = page.getByRole('form', { name: 'Catalog model' });
      await form.getByLabel('Name', { exact: true }).fill('e2e-oracle');
      await form.getByLabel('Backend', { exact: true }).fill('scripted');
      await form.getByLabel('Version').fill('1');
      await form.getByLabel('Notes').fill('added by the web e2e');
      await form.getByTestId('params-input').fill(`answers_file: ${dataset}/annotation.csv\nanswer_column: answer`);
      await form.getByRole('button', { name: 'Add model' }).click();
      const row = table.getByTestId('model-row').filter({ hasText: 'e2e-oracle' });
      await row.waitFor({ timeout: 10_000 });
      if (!(await row.innerText()).includes('catalog')) throw new Error(`row lacks the catalog tag: ${await row.innerText()}`);
      const listed = await page.request.get(`${base}/api/v1/catalog/models/e2e-oracle`);
      const body = await listed.json();
      if (!listed.ok() || body.spec?.params?.answer_column !== 'answer') {
        throw new Error(`the API has ${listed.status()} ${JSON.stringify(body)}`);
      }
      await fits('the Catalog page');
      await shot('catalog-01-model-added');
    });

    await submitChecks({ page, base, step, shot, log, dataset: path.basename(dataset), runsDir: path.join(tmp, 'runs'), deadlineS });

    if (pageErrors.length) {
      failures.push(`browser errors:\n  ${pageErrors.join('\n  ')}`);
    }
    await context.close();
  } catch (err) {
    if (!failures.length) failures.push(err.stack ?? String(err));
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server);
    log('server stopped');
    rmSync(tmp, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`\nE2E FAILED:\n- ${failures.join('\n- ')}\n(server log and screenshots in ${artifacts})`);
    process.exit(1);
  }
  writeFileSync(path.join(artifacts, 'OK'), new Date().toISOString());
  log('E2E PASSED; screenshots in', artifacts);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
