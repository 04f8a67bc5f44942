// Single sign-on to the console of a running Pharos, in real Chromium, through a real OpenID
// provider (oidc-server.mjs, whose pages lib/oidc.mjs drives):
//   - the sign-in page offers "Sign in with <label>" (and passes axe-core and Tab, the link
//     included);
//   - the link leads to the provider's login form; the person signs in there and allows
//     Pharos on the consent page, and the browser comes back to the console signed in, the
//     header naming them with the role their groups map to;
//   - signed out, the same link signs them in again without a form (the provider remembers
//     them and the consent), back on the console;
//   - the console pages reached have no serious or critical axe-core violation, Tab reaches
//     every control, and no page logs an error.
// Pharos's `[sso]` must name the provider, whose client must redirect to
// `<PHAROS_URL>/console/sso/callback`.
//
//   PHAROS_URL=http://127.0.0.1:8080 PHAROS_SSO_LABEL="Test ID" PHAROS_SSO_USER=alice:alice-password \
//   PHAROS_SSO_EXPECT="Alice Admin · admin" PHAROS_TEST_CHROMIUM=/usr/bin/chromium node sso.spec.mjs
//
// Exits 0 after printing one JSON line `{"ok":true,…}`; otherwise prints what failed on stderr,
// `{"ok":false,…}` on stdout, and exits 1. crates/server/tests/api/browser_harness.rs runs it
// against the real server and provider, and checks the store and audit log afterwards.

import { openPage, withBrowser } from './lib/browser.mjs';
import { signIn as atProvider } from './lib/oidc.mjs';
import { baseUrl, signOut, startRun, whoami } from './lib/spec.mjs';

const OVERALL_DEADLINE_MS = 90_000;

const { summary, step, checkPage, fail, run } = startRun('sso', { deadlineMs: OVERALL_DEADLINE_MS });

async function main() {
  const base = baseUrl();
  if (!base) {
    fail(`PHAROS_URL must be the base URL of a running Pharos, got ${JSON.stringify(process.env.PHAROS_URL ?? '')}`);
    return;
  }
  const label = process.env.PHAROS_SSO_LABEL ?? '';
  const [username, password] = (process.env.PHAROS_SSO_USER ?? '').split(/:(.*)/s);
  const expect = process.env.PHAROS_SSO_EXPECT ?? '';
  if (!label || !username || !password || !expect) {
    fail('PHAROS_SSO_LABEL, PHAROS_SSO_USER (username:password at the provider) and PHAROS_SSO_EXPECT ("Name · role") are needed');
    return;
  }
  const linkText = `Sign in with ${label}`;

  await withBrowser(async (browser) => {
    const opened = await step('the sign-in page offers single sign-on', async () => {
      const o = await openPage(browser, `${base}/console/sign-in`, { waitFor: `a:text-is("${linkText}")` });
      const href = await o.page.locator(`a:text-is("${linkText}")`).getAttribute('href');
      if (href !== '/console/sso/start') throw new Error(`the link goes to ${JSON.stringify(href)}`);
      return o;
    });
    if (!opened) return;
    const { context, page } = opened;
    await checkPage(page, 'sign-in with single sign-on');

    const signed = await step(`signing in as ${username} at the provider`, async () => {
      await Promise.all([
        page.waitForURL((u) => u.origin !== base),
        page.click(`a:text-is("${linkText}")`),
      ]);
      summary.provider = new URL(page.url()).origin;
      const { consented } = await atProvider(page, { username, password });
      if (!consented) throw new Error('the provider showed no consent page on the first sign-in');
      await page.waitForURL(`${base}/console`);
      return true;
    });
    if (!signed) return;

    await step('the console names the person with their mapped role', async () => {
      const header = await whoami(page);
      summary.whoami = header;
      if (header !== expect) throw new Error(`the header says ${JSON.stringify(header)}, expected ${JSON.stringify(expect)}`);
    });
    await checkPage(page, 'overview after single sign-on');

    await step('signed out, the link signs in again without a form', async () => {
      await signOut(page, base);
      await Promise.all([page.waitForURL(`${base}/console`), page.click(`a:text-is("${linkText}")`)]);
      const header = await whoami(page);
      if (header !== expect) throw new Error(`the header says ${JSON.stringify(header)}`);
    });
    await context.close();
  });
}

run(main);
