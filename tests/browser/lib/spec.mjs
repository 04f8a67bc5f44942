// What every console script shares, so each reads as its steps: the run's summary and
// failures, `step()` (a failure is recorded and the run goes on), the page checks (axe-core,
// Tab order, no errors logged), the overall deadline, and the exit protocol the Rust side
// reads (crates/server/tests/api/browser_harness.rs): exactly one JSON line on stdout,
// `{"ok":true,…}` and exit 0, or what failed on stderr, `{"ok":false,…}` and exit 1.

import { axeCheck, formatViolations, openPage, tabOrder } from './browser.mjs';

/**
 * Starts a run named `script` that may take `deadlineMs` in all (then it fails and exits,
 * whatever it was doing). `run(main)` calls `main()` and finishes; the other members are the
 * helpers below, bound to this run.
 */
export function startRun(script, { deadlineMs }) {
  const started = Date.now();
  const summary = { ok: false, script, pages: [], steps: [], ms: 0 };
  const failures = [];

  const finish = () => {
    summary.ms = Date.now() - started;
    summary.ok = failures.length === 0;
    if (!summary.ok) summary.failures = failures.map((f) => f.split('\n')[0]);
    for (const f of failures) console.error(`FAIL ${f}`);
    console.log(JSON.stringify(summary));
    process.exitCode = summary.ok ? 0 : 1;
  };

  const watchdog = setTimeout(() => {
    failures.push(`the run took longer than ${deadlineMs} ms`);
    finish();
    process.exit(1);
  }, deadlineMs);
  watchdog.unref();

  /** Runs `check`, recording its failure instead of stopping the run; answers its value. */
  const step = async (what, check) => {
    try {
      const value = await check();
      summary.steps.push(what);
      return value;
    } catch (err) {
      failures.push(`${what}: ${err.message}`);
      return undefined;
    }
  };

  /**
   * The page's accessibility and keyboard checks, recorded under `label`: no serious or
   * critical axe-core violation (lesser ones are noted on stderr and in the summary), Tab
   * reaches every control, and nothing was logged as an error.
   */
  const checkPage = async (page, label) => {
    const seen = { page: label, below_bar: [] };
    summary.pages.push(seen);
    const axe = await step(`${label}: axe-core`, () => axeCheck(page));
    if (axe) {
      seen.below_bar = axe.violations.map((v) => `${v.id}:${v.impact}`);
      if (axe.violations.length > 0) console.error(`note: ${label} has axe findings below the bar:\n${formatViolations(axe.violations)}`);
    }
    await step(`${label}: Tab reaches every control`, async () => {
      const { order, unreached } = await tabOrder(page, { maxSteps: 400 });
      seen.tab_stops = order.length;
      const show = (f) => (f.id ? `#${f.id}` : `${f.tag}${f.name ? `[name=${f.name}]` : ''} "${f.text}"`);
      if (unreached.length > 0) throw new Error(`Tab never reaches ${unreached.map(show).join(', ')}`);
    });
    await step(`${label}: no errors in the console`, async () => {
      if (page.pharosConsoleErrors.length > 0) throw new Error(page.pharosConsoleErrors.join('\n'));
    });
  };

  /** A failure that is not a step's (bad arguments, an unexpected throw). */
  const fail = (what) => failures.push(what);

  const run = (main) => main()
    .catch((err) => failures.push(`unexpected: ${err.stack ?? err}`))
    .finally(finish);

  return { summary, step, checkPage, fail, run };
}

/** The base URL in PHAROS_URL without a trailing slash, or null when it is not one. */
export function baseUrl() {
  const base = (process.env.PHAROS_URL ?? '').replace(/\/+$/, '');
  return /^https?:\/\/[^/]+$/.test(base) ? base : null;
}

/** `email:password` from the environment variable `name`. */
export function account(name) {
  const v = process.env[name] ?? '';
  const at = v.indexOf(':');
  if (at < 0) throw new Error(`${name} must be email:password`);
  return { email: v.slice(0, at), password: v.slice(at + 1) };
}

/**
 * Opens the console's sign-in form in a new context and sends `who`'s e-mail and password;
 * resolves once the browser is on `landing` (the overview, or the code page when the person
 * has two-step sign-in). Answers `{context, page}`.
 */
export async function signInWithPassword(browser, base, who, { landing = `${base}/console` } = {}) {
  const { context, page } = await openPage(browser, `${base}/console/sign-in`, { waitFor: '#email' });
  await passwordForm(page, base, who, { landing });
  return { context, page };
}

/** Fills and sends the sign-in form `page` is on; resolves once the browser is on `landing`. */
export async function passwordForm(page, base, who, { landing = `${base}/console` } = {}) {
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await Promise.all([page.waitForURL(landing), page.click('form[action$="/console/sign-in"] button[type=submit]')]);
}

/** Signs out with the header's button; resolves once the browser is on the sign-in form. */
export async function signOut(page, base) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console/sign-in'),
    page.click('form.whoami button[type=submit]'),
  ]);
  await page.waitForSelector('#email');
}

/** The header's "Name · role" text, once the page shows it. */
export async function whoami(page) {
  return (await page.locator('form.whoami span').innerText()).trim();
}
