// Debian's Chromium driven through playwright-core, and the checks every page test shares:
// waiting for a state with a deadline, axe-core's accessibility rules, and the keyboard's
// Tab order. Playwright's own browser downloads are never used: the browser is the one
// `.ci/run` installs with apt (PHAROS_TEST_CHROMIUM), so what is tested is what CI has.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

/** How long one page may take to load or reach a state, unless a caller says otherwise. */
export const DEFAULT_DEADLINE_MS = 15_000;

/** Impacts that fail `axeCheck` (issue 16: "no serious or critical violations"). */
export const FAILING_IMPACTS = ['serious', 'critical'];

/**
 * The browser to drive: PHAROS_TEST_CHROMIUM, else `chromium`, `chromium-browser` or
 * `google-chrome` on the PATH (the same search as crates/web/tests/web/browser.rs), or null.
 */
export function findChromium() {
  const given = process.env.PHAROS_TEST_CHROMIUM;
  if (given) return given;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
      const candidate = path.join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  }
  return null;
}

/**
 * Launches headless Chromium. `--no-sandbox` because CI runs as root, where Chromium's
 * sandbox refuses to start (the pages loaded are our own); no GPU and no QUIC, because the
 * machines have neither a GPU nor an open network, and Chromium would keep trying both.
 */
export async function launchBrowser({ executablePath = findChromium(), args = [] } = {}) {
  if (!executablePath) {
    throw new Error('no Chromium found: set PHAROS_TEST_CHROMIUM (.ci/run installs chromium and sets it)');
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', ...args],
    timeout: DEFAULT_DEADLINE_MS,
  });
}

/**
 * Runs `fn(browser)` with a fresh browser and closes it afterwards, whether `fn` succeeds or
 * throws, so no Chromium outlives a failed test.
 */
export async function withBrowser(fn, options) {
  const browser = await launchBrowser(options);
  try {
    return await fn(browser);
  } finally {
    await browser.close().catch(() => {});
  }
}

/**
 * Polls `check` until it returns a value other than undefined/null/false and returns that
 * value; throws naming `what` once `deadlineMs` has passed. The pause between polls is the
 * polling interval, not a wait for something to happen.
 */
export async function until(what, check, { deadlineMs = DEFAULT_DEADLINE_MS, everyMs = 25 } = {}) {
  const deadline = Date.now() + deadlineMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Opens `url` in a new context (its own cookies) and waits, within `deadlineMs`, for the load
 * event and then for `waitFor` (a selector, or a function of the page returning truthy).
 * Answers other than 2xx fail unless `allowStatus` includes them. Returns `{context, page,
 * response}`; close the context when done (`withBrowser` closes everything anyway).
 */
export async function openPage(browser, url, { deadlineMs = DEFAULT_DEADLINE_MS, waitFor, allowStatus = [], contextOptions = {} } = {}) {
  const context = await browser.newContext({ timezoneId: 'UTC', locale: 'en-GB', ...contextOptions });
  context.setDefaultTimeout(deadlineMs);
  const page = await context.newPage();
  // Anything the page logs as an error is kept: a broken script or a CSP refusal shows up
  // here, and a failing test can print it.
  page.pharosConsoleErrors = [];
  // Except the browser's own request for /favicon.ico, which no page asked for (a page
  // without `favicon_url` links none) and which Pharos answers 404.
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = msg.location()?.url ?? '';
    if (new URL(where, 'http://x').pathname === '/favicon.ico') return;
    page.pharosConsoleErrors.push(where ? `${msg.text()} (${where})` : msg.text());
  });
  page.on('pageerror', (err) => page.pharosConsoleErrors.push(String(err)));
  const response = await page.goto(url, { waitUntil: 'load', timeout: deadlineMs });
  const status = response?.status();
  if (status !== undefined && (status < 200 || status > 299) && !allowStatus.includes(status)) {
    throw new Error(`GET ${url} answered ${status}`);
  }
  if (typeof waitFor === 'string') {
    await page.waitForSelector(waitFor, { state: 'visible', timeout: deadlineMs });
  } else if (typeof waitFor === 'function') {
    await until(`${url} to be ready`, () => waitFor(page), { deadlineMs });
  }
  return { context, page, response };
}

/** axe-core's source, injected into pages (read once). */
let axeSource;

/**
 * Runs axe-core on the page as it is now (WCAG 2.x A and AA plus best practices) and throws
 * when any violation is `serious` or `critical`, listing for each its rule id, impact, help
 * URL and every element it was found on (CSS target and a short HTML excerpt). Returns axe's
 * results otherwise, so a caller can also report what is below the bar (`moderate`, `minor`).
 */
export async function axeCheck(page, { impacts = FAILING_IMPACTS, include, exclude } = {}) {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const already = await page.evaluate(() => typeof window.axe !== 'undefined');
  // addScriptTag would be refused by a strict Content-Security-Policy (Pharos's pages carry
  // one); evaluating the source goes through the DevTools protocol, which CSP does not govern.
  if (!already) await page.evaluate(axeSource);
  const results = await page.evaluate(async ({ include, exclude }) => {
    const context = include || exclude ? { include: include ?? [document], exclude: exclude ?? [] } : document;
    const r = await window.axe.run(context, {
      resultTypes: ['violations', 'incomplete'],
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    });
    const slim = (list) => list.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 160), summary: n.failureSummary })),
    }));
    return { violations: slim(r.violations), incomplete: slim(r.incomplete), url: r.url };
  }, { include, exclude });
  const failing = results.violations.filter((v) => impacts.includes(v.impact));
  if (failing.length > 0) {
    const err = new Error(`axe: ${failing.length} ${impacts.join('/')} violation(s) on ${results.url}:\n${formatViolations(failing)}`);
    err.violations = failing;
    throw err;
  }
  return results;
}

/** One line per violation and one per element: `rule (impact) help-url` then `  target  html`. */
export function formatViolations(violations) {
  return violations
    .map((v) => [`- ${v.id} (${v.impact}): ${v.help} ${v.helpUrl}`, ...v.nodes.map((n) => `    at ${n.target}  ${n.html}`)].join('\n'))
    .join('\n');
}

/**
 * Presses Tab up to `maxSteps` times from the top of the page, as a person with a keyboard
 * does, and returns `{order, unreached}`: `order` is what had the focus after each press
 * (`{tag, id, name, type, text}`), stopping when focus comes back to the first element reached
 * (the order has wrapped around); `unreached` lists, in the same shape, the visible
 * interactive elements (links, buttons, form fields, summaries, positive tabindex) that are not
 * disabled nor taken out of the order on purpose (`tabindex="-1"`, as a roving tabindex does)
 * and that Tab never reached (a radio button counts as reached when another of its group was:
 * a group is one Tab stop).
 */
export async function tabOrder(page, { maxSteps = 200 } = {}) {
  // The page gets a describer of its own (page.evaluate cannot pass functions, and building
  // one from text would be eval, which the page's Content-Security-Policy forbids).
  await page.evaluate(() => {
    window.pharosDescribe = (el) => ({
      tag: el.tagName.toLowerCase(),
      id: el.id || null,
      name: el.getAttribute('name'),
      type: el.getAttribute('type'),
      text: (el.innerText || el.getAttribute('aria-label') || el.getAttribute('href') || '').trim().slice(0, 60),
    });
    // Start from the document itself, as a person arriving on the page does.
    document.activeElement?.blur?.();
    window.scrollTo(0, 0);
  });
  const order = [];
  for (let i = 0; i < maxSteps; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      if (el === window.pharosFirstTab) return { wrapped: true };
      window.pharosFirstTab ??= el;
      el.setAttribute('data-pharos-tab', '');
      return { el: window.pharosDescribe(el) };
    });
    if (!focused) continue;
    if (focused.wrapped) break;
    order.push(focused.el);
  }
  const unreached = await page.evaluate(() => {
    const out = [];
    // A group of radio buttons is one Tab stop (the arrow keys move within it): a radio is
    // reached when any radio of its group was.
    const reachedRadio = (el) => el.form
      ? [...el.form.elements].some((r) => r.type === 'radio' && r.name === el.name && r.hasAttribute('data-pharos-tab'))
      : false;
    for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')) {
      if (el.disabled || el.getAttribute('type') === 'hidden' || el.getAttribute('tabindex') === '-1') continue;
      if (el.closest('[inert]') || !el.checkVisibility({ visibilityProperty: true })) continue;
      if (el.type === 'radio' && reachedRadio(el)) continue;
      if (!el.hasAttribute('data-pharos-tab')) out.push(window.pharosDescribe(el));
    }
    document.querySelectorAll('[data-pharos-tab]').forEach((el) => el.removeAttribute('data-pharos-tab'));
    delete window.pharosFirstTab;
    delete window.pharosDescribe;
    return out;
  });
  return { order, unreached };
}
