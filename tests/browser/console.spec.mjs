// The responders' console of a running Pharos in real Chromium, as a team uses it:
//   - the owner signs in with the form, declares an incident (previewing its Markdown first),
//     and it appears on the public page;
//   - the open incident's page follows it live: an update posted from a second tab shows up in
//     the first without a reload;
//   - the owner makes a `read` token in the console and it works against the admin API with
//     exactly its scope (200 on GET, 403 on POST);
//   - a viewer sees the incident without the update form, and the console refuses their
//     forged POST (403); a form with a forged CSRF token is refused (403);
//   - the owner acknowledges the incident, schedules a maintenance (it is on the public
//     API), resolves the incident and writes and publishes its postmortem (it is on the public incident page);
//   - the audit log shows each step (incident.create, incident.update, maintenance.create,
//     postmortem.save, postmortem.publish, token.create, access.denied, csrf.refused);
//   - every console page visited has no serious or critical axe-core violation, Tab reaches
//     every control on it, and no page logs an error (a script the Content-Security-Policy
//     refused would).
//
//   PHAROS_URL=http://127.0.0.1:8080 PHAROS_OWNER=owner@x:password PHAROS_VIEWER=viewer@x:password \
//   PHAROS_COMPONENT=api PHAROS_MONITOR=api-health PHAROS_TEST_CHROMIUM=/usr/bin/chromium \
//   node console.spec.mjs
//
// Exits 0 after printing one JSON line `{"ok":true,…}`; otherwise prints what failed on stderr,
// `{"ok":false,…}` on stdout, and exits 1. crates/server/tests/api/browser_harness.rs runs it
// against the real server.

import { axeCheck, formatViolations, openPage, tabOrder, until, withBrowser } from './lib/browser.mjs';

/** The whole run, browser start included. */
const OVERALL_DEADLINE_MS = 150_000;

const started = Date.now();
const summary = { ok: false, script: 'console', pages: [], steps: [], ms: 0 };
const failures = [];

function finish() {
  summary.ms = Date.now() - started;
  summary.ok = failures.length === 0;
  if (!summary.ok) summary.failures = failures.map((f) => f.split('\n')[0]);
  for (const f of failures) console.error(`FAIL ${f}`);
  console.log(JSON.stringify(summary));
  process.exitCode = summary.ok ? 0 : 1;
}

const watchdog = setTimeout(() => {
  failures.push(`the run took longer than ${OVERALL_DEADLINE_MS} ms`);
  finish();
  process.exit(1);
}, OVERALL_DEADLINE_MS);
watchdog.unref();

/** Runs `check`, recording its failure instead of stopping the run. */
async function step(what, check) {
  try {
    const value = await check();
    summary.steps.push(what);
    return value;
  } catch (err) {
    failures.push(`${what}: ${err.message}`);
    return undefined;
  }
}

/** `email:password` from the environment. */
function account(name) {
  const v = process.env[name] ?? '';
  const at = v.indexOf(':');
  if (at < 0) throw new Error(`${name} must be email:password`);
  return { email: v.slice(0, at), password: v.slice(at + 1) };
}

/** The page's accessibility and keyboard checks, recorded under `label`. */
async function checkPage(page, label) {
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
}

/** Signs in through the form in a new context; returns its page on the overview. */
async function signIn(browser, base, who) {
  const { context, page } = await openPage(browser, `${base}/console/sign-in`, { waitFor: '#email' });
  await page.fill('#email', who.email);
  await page.fill('#password', who.password);
  await Promise.all([page.waitForURL(`${base}/console`), page.click('button[type=submit]')]);
  return { context, page };
}

/** The hidden CSRF token of the page's first form. */
async function csrfOf(page) {
  return page.locator('input[name=csrf]').first().inputValue();
}

async function main() {
  const base = (process.env.PHAROS_URL ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(base)) {
    failures.push(`PHAROS_URL must be the base URL of a running Pharos, got ${JSON.stringify(process.env.PHAROS_URL ?? '')}`);
    return;
  }
  const owner = account('PHAROS_OWNER');
  const viewer = account('PHAROS_VIEWER');
  const component = process.env.PHAROS_COMPONENT ?? '';
  const monitor = process.env.PHAROS_MONITOR ?? '';
  const extraPaths = (process.env.PHAROS_CONSOLE_PATHS ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const name = `Checkout errors ${Date.now()}`;

  await withBrowser(async (browser) => {
    const signIn0 = await step('the sign-in page', () => openPage(browser, `${base}/console/sign-in`, { waitFor: '#email' }));
    if (signIn0) {
      await checkPage(signIn0.page, 'sign-in');
      await signIn0.context.close();
    }
    const signed = await step('the owner signs in', () => signIn(browser, base, owner));
    if (!signed) return;
    const { context, page } = signed;
    page.pharosConsoleErrors = page.pharosConsoleErrors ?? [];
    await checkPage(page, 'overview');

    // Declare, with a preview first.
    let incidentUrl;
    await step('declaring an incident with a preview', async () => {
      await page.goto(`${base}/console/incidents`);
      await Promise.all([page.waitForURL(`${base}/console/incidents/new`), page.click('text=Declare an incident')]);
      await checkPage(page, 'declare');
      await page.fill('#name', name);
      if (component) await page.selectOption(`#c-${component}`, 'partial_outage');
      await page.fill('#body', 'Payments **fail** for some cards.');
      await page.click('button[value=preview]');
      await page.waitForSelector('section[aria-label=Preview] strong');
      const previewed = await page.locator('section[aria-label=Preview]').innerText();
      if (!previewed.includes('fail')) throw new Error(`the preview shows ${JSON.stringify(previewed)}`);
      await Promise.all([page.waitForURL(/\/console\/incidents\/[a-z0-9]+$/), page.click('button[value=declare]')]);
      incidentUrl = page.url();
      await page.waitForSelector('text=Payments');
    });
    if (!incidentUrl) return;
    summary.incident = incidentUrl.replace(base, '');
    await checkPage(page, 'incident');

    await step('the incident is on the public page', async () => {
      const pub = await context.newPage();
      await until('the incident on /', async () => {
        await pub.goto(`${base}/`);
        return (await pub.content()).includes(name);
      }, { deadlineMs: 20_000, everyMs: 500 });
      await pub.close();
    });

    await step('an update from another tab appears live', async () => {
      await page.waitForFunction(() => document.querySelector('#live')?.hasAttribute('data-updated'), null, { timeout: 15_000 });
      const other = await context.newPage();
      await other.goto(incidentUrl);
      await other.selectOption('#status', 'identified');
      await other.fill('#body', 'Found the bad card-network route.');
      await Promise.all([other.waitForURL(incidentUrl), other.click('button[value=post]')]);
      await other.close();
      await page.waitForFunction(
        () => document.querySelector('#live')?.innerText.includes('Found the bad card-network route.'),
        null,
        { timeout: 15_000 },
      );
    });

    await step('acknowledging the incident', async () => {
      await page.goto(incidentUrl);
      await Promise.all([page.waitForURL(incidentUrl), page.click('button:text("Acknowledge")')]);
      await page.waitForSelector('text=acknowledged by Olive Owner');
    });

    await step('scheduling a maintenance', async () => {
      await page.goto(`${base}/console/maintenances/new`);
      await checkPage(page, 'schedule a maintenance');
      const day = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      await page.fill('#m-name', 'Database upgrade (browser)');
      await page.fill('#m-body', 'Expect a short read-only period.');
      if (component) await page.check(`#m-c-${component}`);
      await page.fill('#m-starts', `${day}T02:00`);
      await page.fill('#m-ends', `${day}T03:00`);
      await Promise.all([page.waitForURL(/\/console\/maintenances\/[a-z0-9]+$/), page.click('button:text("Schedule")')]);
      await checkPage(page, 'maintenance');
      await until('the maintenance on the public API', async () => {
        const upcoming = await fetch(`${base}/api/v2/scheduled-maintenances/upcoming.json`).then((r) => r.text());
        return upcoming.includes('Database upgrade (browser)');
      }, { deadlineMs: 20_000, everyMs: 250 });
      await page.goto(`${base}/console/maintenances`);
      await checkPage(page, 'maintenances');
    });

    if (monitor) {
      await step('a monitor page', async () => {
        await page.goto(`${base}/console/monitors/${monitor}`);
        await page.waitForSelector('h1');
      });
      await checkPage(page, 'monitor');
    }

    // A token made in the console works with exactly its scope.
    await step('a read token made in the console', async () => {
      await page.goto(`${base}/console/tokens`);
      await checkPage(page, 'tokens');
      await page.fill('input[name=name]', 'browser test');
      await page.selectOption('select[name=scope]', 'read');
      await page.click('form[action$="/console/tokens"] button[type=submit]');
      const token = await until('the token on the page', async () => {
        const text = await page.content();
        return text.match(/pht_[a-z2-7]{12}_[A-Za-z0-9_-]{43}/)?.[0];
      });
      await checkPage(page, 'token made');
      const get = await fetch(`${base}/api/v1/incidents`, { headers: { authorization: `Bearer ${token}` } });
      if (get.status !== 200) throw new Error(`GET with the token answered ${get.status}`);
      const post = await fetch(`${base}/api/v1/incidents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'not allowed', body: 'x' }),
      });
      if (post.status !== 403) throw new Error(`POST with a read token answered ${post.status}`);
    });

    await step('a forged CSRF token is refused', async () => {
      const r = await page.request.post(`${base}/console/incidents`, {
        form: { csrf: 'forged', name: 'forged', body: 'x', action: 'declare' },
        headers: { origin: base },
        failOnStatusCode: false,
      });
      if (r.status() !== 403) throw new Error(`answered ${r.status()}`);
    });

    // The viewer: sees, may not act.
    await step('a viewer sees the incident without the update form, and is refused', async () => {
      const v = await signIn(browser, base, viewer);
      await v.page.goto(incidentUrl);
      await v.page.waitForSelector('#live');
      if (await v.page.locator('text=Post an update').count()) throw new Error('the viewer is offered the update form');
      const csrf = await csrfOf(v.page);
      const r = await v.page.request.post(`${incidentUrl}/updates`, {
        form: { csrf, status: 'resolved', body: 'viewer tries' },
        headers: { origin: base },
        failOnStatusCode: false,
      });
      if (r.status() !== 403) throw new Error(`the viewer's update answered ${r.status()}`);
      await v.context.close();
    });

    for (const path of ['/console/incidents', '/console/users', ...extraPaths]) {
      const ok = await step(`loading ${path}`, async () => {
        const r = await page.goto(`${base}${path}`);
        if (r?.status() !== 200) throw new Error(`answered ${r?.status()}`);
        await page.waitForSelector('h1');
        return true;
      });
      if (ok) await checkPage(page, path);
    }

    await step('resolving, then writing and publishing the postmortem', async () => {
      await page.goto(incidentUrl);
      await page.selectOption('#status', 'resolved');
      await page.fill('#body', 'Card payments work again.');
      await Promise.all([page.waitForURL(incidentUrl), page.click('button[value=post]')]);
      await page.goto(`${incidentUrl}/postmortem`);
      await checkPage(page, 'postmortem');
      await page.fill('#p-root-cause', 'A route to one card network was **dropped** by a deploy.');
      await page.fill('#p-remediation', 'The route was restored.');
      await page.fill('#a0-description', 'Alert when a card network stops answering');
      await page.fill('#a0-owner', 'olive');
      await page.fill('#a0-due', new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10));
      await page.selectOption('#a0-kind', 'prevent');
      await page.click('button[value=save]');
      await page.waitForLoadState('load');
      await page.goto(`${incidentUrl}/postmortem`);
      const missing = await page.locator('main').innerText();
      if (/Missing:/.test(missing)) throw new Error(`the checklist still has gaps:\n${missing.slice(0, 800)}`);
      await page.click('form[action$="/postmortem/publish"] button[type=submit]');
      await page.waitForLoadState('load');
      const id = incidentUrl.split('/').pop();
      await until('the postmortem on the public incident page', async () => {
        const r = await fetch(`${base}/incidents/${id}`);
        return r.ok && (await r.text()).includes('dropped');
      }, { deadlineMs: 20_000, everyMs: 250 });
    });

    await step('the audit log shows each step', async () => {
      await page.goto(`${base}/console/audit`);
      await checkPage(page, 'audit');
      const text = await page.locator('main').innerText();
      for (const action of ['incident.create', 'incident.update', 'incident.acknowledge', 'maintenance.create', 'postmortem.save', 'postmortem.publish', 'token.create', 'access.denied', 'csrf.refused', 'signin']) {
        if (!text.includes(action)) throw new Error(`no ${action} in the audit log`);
      }
    });
    await context.close();
  });
}

main()
  .catch((err) => failures.push(`unexpected: ${err.stack ?? err}`))
  .finally(finish);
