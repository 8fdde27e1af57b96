// Browser checks of submitting and managing experiments (called by run.mjs): the New
// experiment page's "Insert example" runs to COMPLETED as it is; the legacy CSV pair is
// accepted from a file picker, and one file alone shows the server's message; a stage's
// log opened while it runs shows lines arriving live (follow keeps the end in view); an
// experiment is deleted from the list (run files kept) and from its page (files too).

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const FAILED = ['FAILED', 'CANCELLED', 'INTERRUPTED'];

/** Wait on the experiment page until its status is COMPLETED (a failure throws). */
async function waitCompleted(page, deadlineS) {
  const status = page.getByTestId('experiment-status');
  await status.waitFor();
  const end = Date.now() + deadlineS * 1000;
  for (;;) {
    const s = await status.getAttribute('data-status');
    if (s === 'COMPLETED') return;
    if (FAILED.includes(s)) throw new Error(`experiment ended ${s}: ${await page.locator('.message').allInnerTexts()}`);
    if (Date.now() > end) throw new Error(`not COMPLETED after ${deadlineS} s (status ${s})`);
    await page.waitForTimeout(150);
  }
}

/** The id and name of the experiment the page shows (from the API). */
async function experiment(page, base) {
  const id = new URL(page.url()).pathname.split('/').pop();
  const answer = await page.request.get(`${base}/api/v1/experiments/${id}`);
  if (!answer.ok()) throw new Error(`experiment ${id} answers ${answer.status()}`);
  return { id, name: (await answer.json()).name };
}

/** The legacy v0.1 pair for the dataset ``dataset`` (a folder name under the data root). */
function legacyPair(dataset) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vlmhb-e2e-legacy-'));
  const userConfig = path.join(dir, 'user_config.csv');
  const vlmBase = path.join(dir, 'vlm_base.csv');
  writeFileSync(
    userConfig,
    'dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;only_evaluate_metrics;' +
      'metrics_aggregators;filter_doc_class;filter_question_type\n' +
      `${dataset};VQA;scripted;oracle;;;['CER', 'EXACT_MATCH'];False;['by_id', 'general'];[];[]\n`,
  );
  writeFileSync(
    vlmBase,
    'framework;model_family;model_name;docker_image;git_python_package;python_package;module;class_name;params\n' +
      `scripted;scripted;oracle;;;;;;{"answers_file": "${dataset}/annotation.csv", "answer_column": "answer", "latency_ms": 20}\n`,
  );
  return { dir, userConfig, vlmBase };
}

/**
 * @param {object} ctx
 * @param {import('playwright-core').Page} ctx.page
 * @param {string} ctx.base      the server's URL
 * @param {(name: string, fn: () => Promise<void>) => Promise<void>} ctx.step
 * @param {(name: string) => Promise<void>} ctx.shot
 * @param {(...args: unknown[]) => void} ctx.log
 * @param {string} ctx.dataset   the dataset's folder name under the data root
 * @param {string} ctx.runsDir   the server's runs folder
 * @param {number} ctx.deadlineS
 */
export async function submitChecks({ page, base, step, shot, log, dataset, runsDir, deadlineS }) {
  const openNew = async () => {
    await page.goto(`${base}/new`);
    await page.getByRole('heading', { name: 'New experiment' }).waitFor();
  };
  let example; // { id, name }
  let legacy; // { id, name }
  const pair = legacyPair(dataset);

  await step('new: insert the example and run it', async () => {
    await openNew();
    await page.getByRole('button', { name: 'Insert example' }).click();
    const editor = page.getByTestId('config-input');
    await page.waitForFunction((el) => el.value.includes(`path: `), await editor.elementHandle());
    const text = await editor.inputValue();
    if (!text.includes(`path: ${dataset}`)) throw new Error(`the example does not name ${dataset}:\n${text}`);
    await shot('submit-01-example');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f]+$/, { timeout: 15_000 });
    await waitCompleted(page, deadlineS);
    const rows = await page.getByTestId('run-row').count();
    if (rows !== 2) throw new Error(`the example has ${rows} runs, not 2`);
    example = await experiment(page, base);
    await page.getByRole('link', { name: /Experiment report/ }).waitFor({ timeout: 10_000 });
    await shot('submit-02-example-completed');
  });

  await step('new: one legacy file alone shows the server message', async () => {
    await openNew();
    await page.getByTestId('file-input').setInputFiles([pair.userConfig]);
    const panel = page.getByTestId('legacy-upload');
    await panel.getByText('missing').waitFor();
    await panel.getByRole('button', { name: 'Submit pair' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'refused' });
    await alert.waitFor();
    const text = await alert.innerText();
    if (!text.includes('missing vlm_base.csv')) throw new Error(`error box: ${text}`);
    await shot('submit-03-legacy-one-file');
  });

  await step('new: the legacy pair is accepted', async () => {
    await page.getByTestId('file-input').setInputFiles([pair.userConfig, pair.vlmBase]);
    const panel = page.getByTestId('legacy-upload');
    if ((await panel.getByText('missing').count()) > 0) throw new Error('a file of the pair shows as missing');
    if ((await page.getByRole('alert').count()) > 0) throw new Error('the old refusal is still shown');
    await shot('submit-04-legacy-pair');
    await panel.getByRole('button', { name: 'Submit pair' }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f]+$/, { timeout: 15_000 });
    await waitCompleted(page, deadlineS);
    legacy = await experiment(page, base);
    log('legacy experiment', legacy.id, legacy.name);
  });

  await step("stage log: live while it runs, complete after", async () => {
    await openNew();
    const slow = [
      'name: slow-log',
      'models:',
      '  - name: slow-oracle',
      '    backend: scripted',
      `    params: {answers_file: ${dataset}/annotation.csv, answer_column: answer, latency_ms: 700}`,
      '    concurrency: 1',
      'datasets:',
      `  - {name: d, format: vqa_csv, path: ${dataset}}`,
      'tasks:',
      '  - {name: vqa, dataset: d, kind: vqa, metrics: [cer]}',
      '',
    ].join('\n');
    await page.getByTestId('config-input').fill(slow);
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.waitForURL(/\/experiments\/[0-9a-f]+$/, { timeout: 15_000 });
    const cell = page.getByTestId('stage-inference').first();
    await cell.locator('[data-status="RUNNING"]').waitFor({ timeout: 30_000 });
    await cell.locator('summary', { hasText: /^log/ }).click();
    const pane = cell.getByTestId('stage-log');
    await pane.getByText(/stage inference started/).waitFor({ timeout: 10_000 });
    const state = await cell.locator('.badge').first().getAttribute('data-status');
    if (state !== 'RUNNING') throw new Error(`the log was opened too late (stage ${state})`);
    const style = await pane.evaluate((el) => {
      const css = getComputedStyle(el);
      return { maxHeight: css.maxHeight, overflowY: css.overflowY };
    });
    if (style.maxHeight === 'none' || !['auto', 'scroll'].includes(style.overflowY)) {
      throw new Error(`the log box has no max height with scroll (${style.maxHeight}, ${style.overflowY})`);
    }
    await shot('submit-05-log-running');
    // the stage's last line arrives live into the open log (it is not reopened)
    await pane.getByText(/this session/).waitFor({ timeout: deadlineS * 1000 });
    await waitCompleted(page, deadlineS);
    const following = await pane.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight <= 8);
    if (!following) throw new Error('follow did not keep the newest log line in view');
    await shot('submit-06-log-completed');
  });

  await step('delete from the list, keeping the run files', async () => {
    await page.goto(`${base}/`);
    const table = page.getByTestId('experiments-table');
    const row = table.locator('tbody tr').filter({ hasText: legacy.id.slice(0, 12) });
    await row.waitFor();
    await row.getByRole('button', { name: /^Delete/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete experiment' });
    await dialog.waitFor();
    await shot('submit-07-delete-confirm');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    await page.getByTestId('notice').getByText('its run files kept').waitFor();
    const gone = await page.request.get(`${base}/api/v1/experiments/${legacy.id}`);
    if (gone.status() !== 404) throw new Error(`the deleted experiment answers ${gone.status()}`);
    if (!existsSync(path.join(runsDir, legacy.name))) throw new Error(`runs/${legacy.name} was deleted`);
    await shot('submit-08-deleted-kept-files');
  });

  await step('delete from its page with the run files', async () => {
    if (!existsSync(path.join(runsDir, example.name))) throw new Error(`runs/${example.name} missing before`);
    await page.goto(`${base}/experiments/${example.id}`);
    await page.getByTestId('experiment-status').waitFor();
    await page.getByRole('button', { name: `Delete ${example.name}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete experiment' });
    await dialog.getByLabel('also delete its run files').check();
    await dialog.getByRole('button', { name: 'Delete with its files' }).click();
    await page.waitForURL(`${base}/`, { timeout: 10_000 });
    await page.getByTestId('experiments-table').waitFor();
    const left = await page.getByTestId('experiments-table').getByText(example.name, { exact: true }).count();
    if (left) throw new Error(`${example.name} is still listed`);
    if (existsSync(path.join(runsDir, example.name))) throw new Error(`runs/${example.name} was kept`);
    await shot('submit-09-deleted-with-files');
  });
}
