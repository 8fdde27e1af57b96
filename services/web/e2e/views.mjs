// Browser checks of the experiment page's views at 1280×800 (called by run.mjs once logged
// in): an experiment of two runs (an oracle and a noisy model with a long name, the task
// cropping each sample to its answer box) is submitted through the API; then
// - Compare: one leaderboard panel per metric, each with its direction hint;
// - Samples: the crop the model received loads, the page shows the answer box, a wrong
//   answer is marked with its diff, a click enlarges the images;
// - Compare two runs: the images and the wrong answers are there too;
// and on every view no card's content is wider than the card (wide tables scroll inside a
// wrapper) and the page is no wider than the window. Screenshots: views-*.png.

const WIDTH = 1280;
const HEIGHT = 800;

function config(dataset) {
  const answers = `answers_file: ${dataset}/annotation.csv, answer_column: answer`;
  return [
    'name: web-e2e-views',
    'models:',
    '  - name: oracle',
    '    backend: scripted',
    `    params: {${answers}}`,
    '  - name: noisy-reference-model-with-a-rather-long-name-v2',
    '    backend: scripted',
    `    params: {${answers}, noise: 0.5}`,
    'datasets:',
    `  - {name: tiny, format: vqa_csv, path: ${dataset}}`,
    'tasks:',
    '  - name: vqa',
    '    dataset: tiny',
    '    kind: vqa',
    '    image_region: answer_bbox',
    '    metrics: [cer, exact_match]',
    '',
  ].join('\n');
}

async function submit(page, base, dataset, deadlineS) {
  const csrf = (await page.context().cookies(base)).find((c) => c.name === 'vlmhb_csrf');
  const response = await page.request.post(`${base}/api/v1/experiments`, {
    headers: { 'content-type': 'application/yaml', 'X-VLMHB-CSRF': csrf?.value ?? '' },
    data: config(dataset),
  });
  if (response.status() !== 202) throw new Error(`submit answered ${response.status()}: ${await response.text()}`);
  const { id } = await response.json();
  const end = Date.now() + deadlineS * 1000;
  for (;;) {
    const detail = await (await page.request.get(`${base}/api/v1/experiments/${id}`)).json();
    if (detail.status === 'COMPLETED') return detail;
    if (['FAILED', 'CANCELLED', 'INTERRUPTED'].includes(detail.status)) {
      throw new Error(`views experiment ended ${detail.status}: ${detail.message}`);
    }
    if (Date.now() > end) throw new Error(`views experiment not COMPLETED after ${deadlineS} s`);
    await page.waitForTimeout(250);
  }
}

/** What is wider than its box: cards, the page, and tables outside a scroll wrapper. */
function overflows(page) {
  return page.evaluate(() => {
    const name = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`;
    const bad = [];
    if (document.documentElement.scrollWidth > window.innerWidth) {
      bad.push(`the page is ${document.documentElement.scrollWidth} px wide`);
    }
    for (const el of document.querySelectorAll('.card')) {
      if (el.scrollWidth > el.clientWidth + 1) bad.push(`${name(el)}: ${el.scrollWidth} > ${el.clientWidth} px`);
    }
    for (const table of document.querySelectorAll('table')) {
      const box = table.parentElement;
      if (table.offsetWidth > box.clientWidth + 1 && !box.classList.contains('table-scroll')) {
        bad.push(`${name(table)} (${table.offsetWidth} px) overflows ${name(box)} (${box.clientWidth} px)`);
      }
    }
    return bad;
  });
}

async function fits(page, what) {
  const bad = await overflows(page);
  if (bad.length) throw new Error(`${what} does not fit at ${WIDTH} px: ${bad.join('; ')}`);
}

async function loaded(page, locator, what) {
  await locator.scrollIntoViewIfNeeded();
  await page
    .waitForFunction((el) => el.complete && el.naturalWidth > 0, await locator.elementHandle(), { timeout: 10_000 })
    .catch(() => {
      throw new Error(`${what} did not load`);
    });
}

/**
 * The views' checks; `step(name, fn)` records a failure and its screenshot, `shot(name)`
 * saves e2e-artifacts/<name>.png, `dataset` is the synthetic dataset's folder.
 */
export async function checkViews({ page, base, shot, log, step, dataset, deadlineS = 120 }) {
  await page.setViewportSize({ width: WIDTH, height: HEIGHT });
  let detail;
  await step('views: submit a cropped two-run experiment', async () => {
    detail = await submit(page, base, dataset, deadlineS);
    log(`views experiment ${detail.id}: ${detail.runs.map((r) => r.name).join(', ')}`);
  });
  const oracle = detail.runs.find((r) => r.model === 'oracle');
  const noisy = detail.runs.find((r) => r.model !== 'oracle');
  const url = `${base}/experiments/${detail.id}`;

  await step('views: runs table fits', async () => {
    await page.goto(url);
    await page.getByTestId('run-row').first().waitFor();
    await fits(page, 'the runs table');
  });

  await step('views: leaderboard has a panel per metric', async () => {
    await page.goto(`${url}/compare`);
    const panels = page.getByTestId('metric-panel');
    await panels.first().locator('.js-plotly-plot').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="figure-latency"] .js-plotly-plot').waitFor({ timeout: 30_000 });
    await page.waitForTimeout(800); // Plotly lays out after the first frame
    const metrics = await panels.evaluateAll((els) => els.map((e) => e.dataset.metric));
    for (const [metric, hint] of [
      ['cer', '← better'],
      ['exact_match', 'better →'],
    ]) {
      const panel = page.locator(`[data-testid="metric-panel"][data-metric="${metric}"]`);
      if ((await panel.count()) !== 1) throw new Error(`no panel of its own for ${metric} (panels: ${metrics})`);
      const text = await panel.innerText();
      if (!text.includes(hint)) throw new Error(`the ${metric} panel lacks "${hint}": ${text}`);
      const bars = await panel.locator('.bars .point').count();
      if (bars !== 2) throw new Error(`the ${metric} panel has ${bars} bars, not one per run`);
    }
    if (await page.locator('.js-plotly-plot .legend').count()) {
      const legendWidth = await page.locator('.js-plotly-plot .legend').evaluateAll((els) =>
        Math.max(...els.map((e) => e.getBoundingClientRect().width)),
      );
      log(`widest legend: ${Math.round(legendWidth)} px`);
    }
    const labels = await page.locator('[data-metric="cer"] .ytick text').evaluateAll((els) => els.map((e) => e.textContent));
    if (labels.some((l) => l.includes('__'))) throw new Error(`panel labels are run names: ${labels}`);
    log(`leaderboard panels: ${metrics.join(', ')}; labels ${labels.join(' | ')}`);
    await fits(page, 'the Compare tab');
    await shot('views-01-leaderboard');
  });

  await step('views: samples show the crop, the boxed page and the wrong answer', async () => {
    await page.goto(`${url}/samples?run=${noisy.id}`);
    const rows = page.getByTestId('sample-row');
    await rows.first().waitFor({ timeout: 15_000 });
    const first = rows.first();
    await loaded(page, first.getByTestId('crop'), 'the crop');
    await first.getByTestId('answer-box').waitFor({ timeout: 10_000 }); // drawn once the page loaded
    const wrong = page.getByTestId('wrong-answer');
    if ((await wrong.count()) < 1) throw new Error('no wrong answer is marked for the noisy model');
    if ((await wrong.first().locator('ins, del').count()) < 1) throw new Error('the wrong answer has no diff');
    const colour = await wrong.first().evaluate((el) => getComputedStyle(el).color);
    if (colour !== 'rgb(201, 42, 42)') throw new Error(`a wrong answer is ${colour}, not red`);
    await fits(page, 'the samples table');
    await shot('views-02-samples-crop');
    await first.getByTestId('sample-images').click();
    const zoom = page.getByTestId('image-zoom');
    await zoom.getByTestId('answer-box').waitFor({ timeout: 10_000 });
    await loaded(page, zoom.locator('img.zoom-crop'), 'the enlarged crop');
    await shot('views-03-samples-zoom');
    await zoom.click();
    await zoom.waitFor({ state: 'detached' });
  });

  await step('views: comparing two runs shows the images', async () => {
    await page.goto(`${url}/samples?mode=compare&a=${oracle.id}&b=${noisy.id}`);
    const table = page.getByTestId('compare-table');
    await table.waitFor({ timeout: 15_000 });
    await loaded(page, table.getByTestId('crop').first(), 'the crop in the comparison');
    if ((await table.getByTestId('wrong-answer').count()) < 1) throw new Error('no wrong answer marked in B');
    const heads = await table.locator('thead th').allInnerTexts();
    if (!heads.some((h) => h.startsWith('B: noisy'))) throw new Error(`column heads ${heads}`);
    await fits(page, 'the comparison table');
    await shot('views-04-compare');
  });
}
