// Opens a notebook in JupyterLab with Debian's chromium, runs all its cells, and checks what a person
// would see: every cell ran, no error output, the dataset table rendered as HTML and the histogram
// drawn. Then opens a copy of the executed notebook written to disk as a file shared with someone
// would be (untrusted: JupyterLab strips its outputs' <style> blocks) and checks the displays keep
// their look, and that Tab after a method chain's `.` pops up the receiver type's public methods.
// Saves a screenshot of each, either way.
//
// Usage: node run_notebook.mjs URL TOKEN NOTEBOOK SCREENSHOT ROOT_DIR
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, token, notebook, screenshot, rootDir] = process.argv.slice(2);
const browserPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const RUN_TIMEOUT_MS = 10 * 60 * 1000;

const browser = await chromium.launch({
  executablePath: browserPath,
  // Root in a container: chromium's own sandbox needs user namespaces it may not get.
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const fail = async (message) => {
  console.error(`browser test: ${message}`);
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  console.error(`browser test: screenshot of the failure in ${screenshot}`);
  await browser.close();
  process.exit(1);
};

try {
  await page.goto(`${url}/lab/tree/${notebook}?token=${token}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 120_000 });
  // The kernel must be ours and idle before running.
  await page.waitForFunction(
    () => document.querySelector(".jp-Toolbar-kernelName")?.textContent?.includes("Rust (Veil)"),
    null,
    { timeout: 120_000 },
  );
  console.log("browser test: notebook open on the Rust (Veil) kernel");
  await page.locator(".jp-Notebook").click();
  await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
  console.log("browser test: Run > Run All Cells");

  // Every code cell must end with an execution count: `[*]` while running, `[ ]` if it never ran.
  const started = Date.now();
  for (;;) {
    const prompts = await page
      .locator(".jp-CodeCell .jp-InputArea-prompt")
      .evaluateAll((nodes) => nodes.map((n) => n.textContent.trim()));
    const done = prompts.length > 0 && prompts.every((p) => /^\[\d+\]:$/.test(p));
    if (done) {
      console.log(`browser test: ${prompts.length} code cells ran in ${Math.round((Date.now() - started) / 1000)} s`);
      break;
    }
    if (Date.now() - started > RUN_TIMEOUT_MS) {
      await fail(`cells still not done after ${RUN_TIMEOUT_MS / 1000} s: ${prompts.join(" ")}`);
    }
    await page.waitForTimeout(1000);
  }

  // What the notebook holds, as Jupyter saved it: no output may be an error.
  await page.keyboard.press("Control+s");
  let saved = null;
  for (let i = 0; i < 30 && !saved; i++) {
    await page.waitForTimeout(1000);
    const response = await fetch(`${url}/api/contents/${notebook}?content=1&token=${token}`);
    const model = await response.json();
    const cells = model.content?.cells ?? [];
    const code = cells.filter((c) => c.cell_type === "code");
    if (code.length > 0 && code.every((c) => c.execution_count !== null)) saved = code;
  }
  if (!saved) await fail("the executed notebook was not saved");
  const errors = saved.flatMap((c) => c.outputs.filter((o) => o.output_type === "error"));
  if (errors.length > 0) {
    await fail(`${errors.length} cell(s) show an error: ${errors.map((e) => `${e.ename}: ${e.evalue}`).join("; ")}`);
  }
  console.log(`browser test: no error outputs in ${saved.length} code cells`);

  const table = page
    .locator(".jp-OutputArea .jp-RenderedHTMLCommon table")
    .filter({ hasText: "Breast Cancer Biomarker" })
    .first();
  if ((await table.count()) === 0) {
    await fail("no rendered HTML table shows the dataset `Breast Cancer Biomarker`");
  }
  // The cell whose output holds the table, at the top of the view, for the screenshot.
  await table.evaluate((el) => el.closest(".jp-Cell")?.scrollIntoView({ block: "start" }));
  await page.waitForTimeout(500);
  console.log("browser test: the dataset table rendered as HTML");
  await page.screenshot({ path: screenshot });
  console.log(`browser test: screenshot in ${screenshot}`);

  // The histograms: JupyterLab draws the Vega-Lite spec with the Vega it bundles (no network).
  const chart = page.locator(".jp-OutputArea .vega-embed").first();
  await chart.waitFor({ timeout: 60_000 });
  await chart.evaluate((el) => el.scrollIntoView({ block: "center" }));
  const drawn = page.locator(".jp-OutputArea .vega-embed :is(canvas, svg.marks)").first();
  await drawn.waitFor({ timeout: 60_000 });
  const box = await drawn.boundingBox();
  if (!box || box.width < 100 || box.height < 100) {
    await fail(`the plot did not render: ${JSON.stringify(box)}`);
  }
  await page.waitForTimeout(500);
  const plotShot = screenshot.replace(/\.png$/, "-plot.png");
  await page.screenshot({ path: plotShot });
  console.log(`browser test: the histogram rendered (${Math.round(box.width)}x${Math.round(box.height)}); screenshot in ${plotShot}`);

  // The executed notebook as a file someone shares: written to disk, not saved by this JupyterLab,
  // so it opens untrusted. A probe output with a <style> block shows the sanitizer at work.
  const shared = `shared-${notebook}`;
  const copy = JSON.parse(readFileSync(`${rootDir}/${notebook}`, "utf8"));
  copy.metadata.veil_shared_copy = true;
  const first = copy.cells.find((c) => c.cell_type === "code");
  first.outputs.push({
    output_type: "display_data",
    metadata: {},
    data: {
      "text/html": ['<style>.veil-probe{color:rgb(1, 2, 3)}</style><span class="veil-probe">probe</span>'],
      "text/plain": ["probe"],
    },
  });
  writeFileSync(`${rootDir}/${shared}`, JSON.stringify(copy));
  await page.goto(`${url}/lab/tree/${shared}?token=${token}`, { waitUntil: "domcontentloaded" });
  // The shared copy's panel (the first notebook's stays open in a hidden tab); its first outputs,
  // the datasite's display and the probe, are at the top (JupyterLab renders cells as they scroll
  // into view).
  const panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)");
  const probe = panel.locator(".veil-probe").first();
  await probe.waitFor({ timeout: 120_000 });
  if ((await probe.evaluate((el) => getComputedStyle(el).color)) === "rgb(1, 2, 3)") {
    await fail("the shared copy opened trusted: its <style> blocks were kept, so it proves nothing");
  }
  const badge = panel.locator(".veil-badge").first();
  await badge.waitFor({ timeout: 60_000 });
  const look = await badge.evaluate((el) => ({
    background: getComputedStyle(el).backgroundColor,
    margin: getComputedStyle(el).marginLeft,
    cell: getComputedStyle(el.closest(".veil").querySelector("td")).borderTopStyle,
  }));
  if (look.background !== "rgb(232, 238, 252)" || look.margin !== "6px" || look.cell !== "solid") {
    await fail(`the shared copy lost its displays' look: ${JSON.stringify(look)}`);
  }
  console.log("browser test: the executed notebook, opened untrusted from disk, keeps its displays' look");
  const sharedShot = screenshot.replace(/\.png$/, "-shared.png");
  await page.screenshot({ path: sharedShot });
  console.log(`browser test: screenshot in ${sharedShot}`);

  // Tab after a method chain's `.`: the popup lists the receiver type's public methods (a builder's
  // here, resolved from the facade's signatures), none of its private fields.
  // The shared copy's kernel connected and idle first: a Tab before that asks nobody.
  await page.waitForFunction(
    () => document.querySelector(".jp-StatusBar-Widget")?.closest("#jp-main-statusbar")?.textContent?.includes("Rust (Veil) | Idle"),
    null,
    { timeout: 120_000 },
  );
  await panel.locator(".jp-Cell").last().click();
  await page.keyboard.press("Escape");
  await page.keyboard.press("b");
  await page.keyboard.press("Enter");
  await page.keyboard.type('let d = Dataset::new("demo").');
  await page.keyboard.press("Tab");
  const items = page.locator(".jp-Completer .jp-Completer-item");
  await items.first().waitFor({ timeout: 120_000 });
  const offered = await items.evaluateAll((nodes) =>
    nodes.map((n) => n.querySelector(".jp-Completer-match")?.textContent?.trim() ?? n.textContent.trim()),
  );
  const names = offered.map((m) => m.split("(")[0]);
  if (!names.includes("asset") || names.some((m) => ["new", "handle", "client", "view"].includes(m))) {
    await fail(`the completion popup after \`Dataset::new("demo").\` offered: ${offered.join(", ")}`);
  }
  console.log(`browser test: completion offered ${offered.length} methods: ${offered.slice(0, 6).join(", ")}, ...`);
  const completionShot = screenshot.replace(/\.png$/, "-completion.png");
  await page.screenshot({ path: completionShot });
  console.log(`browser test: screenshot in ${completionShot}`);
} catch (e) {
  await fail(e.message ?? String(e));
}
await browser.close();
