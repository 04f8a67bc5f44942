// Two-step sign-in (TOTP) in the console of a running Pharos, in real Chromium, as a person
// sets it up and uses it:
//   - they sign in with their password, open "Your account" from the console's navigation and
//     set up two-step sign-in: the page shows the key in base32, from which this script
//     computes the current code (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, the function
//     below, checked against the RFC's test vector first), confirms it, and is shown ten
//     recovery codes;
//   - they sign out and in again: the password now leads to the code page, where a fresh code
//     (the next step once the one used to confirm is over: a step is accepted once) signs
//     them in to the console;
//   - they sign out and in with a recovery code instead; the same recovery code is refused
//     the next time, another one works, and the account page counts eight left;
//   - the account page (off, setting up, codes shown, on) and the code page have no serious or
//     critical axe-core violation, Tab reaches every control on them, and no page logs an
//     error.
// The app must have a sealing key (`[console] secret_key_file` or PHAROS_SECRET_KEY) and the
// person must not have two-step sign-in yet.
//
//   PHAROS_URL=http://127.0.0.1:8080 PHAROS_PERSON=ada@example.test:password \
//   PHAROS_TEST_CHROMIUM=/usr/bin/chromium node totp.spec.mjs
//
// Exits 0 after printing one JSON line `{"ok":true,…}`; otherwise prints what failed on stderr,
// `{"ok":false,…}` on stdout, and exits 1. crates/server/tests/api/browser_harness.rs runs it
// against the real server and checks the audit log afterwards.

import { createHmac } from 'node:crypto';
import { until, withBrowser } from './lib/browser.mjs';
import { account, baseUrl, passwordForm, signInWithPassword, signOut, startRun, whoami } from './lib/spec.mjs';

/** The whole run, browser start included; up to a 30-second step is waited for once. */
const OVERALL_DEADLINE_MS = 120_000;
/** Seconds of one TOTP step (RFC 6238's default, and Pharos's). */
const STEP_SECONDS = 30;

const { summary, step, checkPage, fail, run } = startRun('totp', { deadlineMs: OVERALL_DEADLINE_MS });

/** The bytes of an RFC 4648 base32 text (upper or lower case, padding and spaces ignored). */
function base32Bytes(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(c)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The `digits`-digit code of `key` for time step `step` (RFC 4226's HOTP of the step). */
function codeOf(key, step, digits = 6) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(at) & 0x7fffffff) % 10 ** digits;
  return String(number).padStart(digits, '0');
}

/** The time step of now (this machine's clock, which the app under test shares). */
const stepNow = () => Math.floor(Date.now() / 1000 / STEP_SECONDS);

async function main() {
  const base = baseUrl();
  if (!base) {
    fail(`PHAROS_URL must be the base URL of a running Pharos, got ${JSON.stringify(process.env.PHAROS_URL ?? '')}`);
    return;
  }
  const person = account('PHAROS_PERSON');

  // RFC 6238 appendix B, SHA-1: the ASCII key "12345678901234567890" at T = 59 s gives
  // 94287082 (8 digits), so 287082 with 6; the base32 of that key decodes to it.
  const selfTest = await step('the code function matches RFC 6238', () => {
    const key = base32Bytes('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    if (key.toString('ascii') !== '12345678901234567890') throw new Error(`base32 decodes to ${key.toString('hex')}`);
    const step = Math.floor(59 / STEP_SECONDS);
    const got = [codeOf(key, step, 8), codeOf(key, step, 6), codeOf(key, Math.floor(1111111109 / STEP_SECONDS), 8)];
    const want = ['94287082', '287082', '07081804'];
    if (got.join() !== want.join()) throw new Error(`codes ${got.join()}, expected ${want.join()}`);
    return true;
  });
  if (!selfTest) return;

  await withBrowser(async (browser) => {
    const signed = await step('signing in with the password', () => signInWithPassword(browser, base, person));
    if (!signed) return;
    const { context, page } = signed;
    const header = await whoami(page);
    summary.whoami = header;

    await step('opening "Your account" from the navigation', async () => {
      await Promise.all([page.waitForURL(`${base}/console/account`), page.click('nav.tabs a:text-is("Your account")')]);
      await page.waitForSelector('h1:text-is("Your account")');
      const current = await page.locator('nav.tabs a[aria-current=page]').innerText();
      if (current.trim() !== 'Your account') throw new Error(`the navigation marks ${JSON.stringify(current)} as current`);
    });
    await checkPage(page, 'account');

    // Setting it up: the key shown, a code computed from it, confirmed.
    const setup = await step('setting up two-step sign-in', async () => {
      await Promise.all([
        page.waitForURL(`${base}/console/account`),
        page.click('button:text-is("Set up two-step sign-in")'),
      ]);
      const text = await page.locator('p:has-text("Key:") .secret').innerText();
      const key = base32Bytes(text);
      if (key.length < 16) throw new Error(`a key of ${key.length} bytes: ${JSON.stringify(text)}`);
      const link = await page.locator('p:has-text("Setup link:") .secret').innerText();
      if (!link.startsWith('otpauth://totp/') || !link.includes(`secret=${text.trim()}`)) throw new Error(`the setup link is ${JSON.stringify(link)}`);
      if ((await page.locator('img.qr').count()) !== 1) throw new Error('no QR code');
      return { key };
    });
    if (!setup) return;
    await checkPage(page, 'account: setting up');

    const codes = await step('confirming with the current code shows ten recovery codes', async () => {
      const confirmed = stepNow();
      await page.fill('#code', codeOf(setup.key, confirmed));
      await Promise.all([
        page.waitForURL(`${base}/console/account/totp/confirm`),
        page.click('button:text-is("Turn two-step sign-in on")'),
      ]);
      await page.waitForSelector('ol.codes li code');
      const shown = (await page.locator('ol.codes li code').allInnerTexts()).map((c) => c.trim());
      if (shown.length !== 10 || new Set(shown).size !== 10) throw new Error(`recovery codes shown: ${JSON.stringify(shown)}`);
      const main = await page.locator('main').innerText();
      if (!/Two-step sign-in is on/i.test(main)) throw new Error(`the page does not say it is on:\n${main.slice(0, 600)}`);
      setup.confirmedStep = confirmed;
      return shown;
    });
    if (!codes) return;
    summary.recovery_codes = codes.length;
    await checkPage(page, 'account: recovery codes');

    // Signing in again: the password alone is no longer enough.
    await step('signing out', () => signOut(page, base));
    await step('the password now leads to the code page', async () => {
      await passwordForm(page, base, person, { landing: `${base}/console/sign-in/code` });
      await page.waitForSelector('h1:text-is("Enter your code")');
      const home = await page.request.get(`${base}/console`, { maxRedirects: 0 });
      if (home.status() !== 303) throw new Error(`the console answered ${home.status()} before the code`);
    });
    await checkPage(page, 'sign-in code');

    const signedWithCode = await step('a fresh code from the app signs in', async () => {
      // The step used to confirm is spent; wait (polling) for the next one if it is still on.
      const waitFrom = Date.now();
      const fresh = await until('a TOTP step after the one used to confirm', () => {
        const now = stepNow();
        return now > setup.confirmedStep ? now : undefined;
      }, { deadlineMs: (STEP_SECONDS + 5) * 1000, everyMs: 200 });
      summary.waited_for_next_step_ms = Date.now() - waitFrom;
      await page.fill('#code', codeOf(setup.key, fresh));
      await Promise.all([page.waitForURL(`${base}/console`), page.click('form[action$="/sign-in/code"] button[type=submit]')]);
      const now = await whoami(page);
      if (now !== header) throw new Error(`the header says ${JSON.stringify(now)}, before it said ${JSON.stringify(header)}`);
      return true;
    });
    if (!signedWithCode) return;
    await checkPage(page, 'overview after the code');

    // A recovery code instead of the app's.
    await step('signing out again', () => signOut(page, base));
    await step('a recovery code signs in instead', async () => {
      await passwordForm(page, base, person, { landing: `${base}/console/sign-in/code` });
      await page.fill('#code', codes[0]);
      await Promise.all([page.waitForURL(`${base}/console`), page.click('form[action$="/sign-in/code"] button[type=submit]')]);
      const now = await whoami(page);
      if (now !== header) throw new Error(`the header says ${JSON.stringify(now)}`);
    });
    await step('the same recovery code is refused the next time', async () => {
      await signOut(page, base);
      await passwordForm(page, base, person, { landing: `${base}/console/sign-in/code` });
      await Promise.all([
        page.waitForResponse((r) => r.url() === `${base}/console/sign-in/code` && r.request().method() === 'POST'),
        page.fill('#code', codes[0]).then(() => page.click('form[action$="/sign-in/code"] button[type=submit]')),
      ]);
      await page.waitForSelector('[role=alert]');
      const alert = await page.locator('[role=alert]').innerText();
      if (!/not right, or it was used already/.test(alert)) throw new Error(`the page says ${JSON.stringify(alert)}`);
      if (new URL(page.url()).pathname !== '/console/sign-in/code') throw new Error(`the browser is on ${page.url()}`);
      // The refusal is a 401, which Chromium logs as a resource that failed to load: expected
      // here, so it is not counted against the page (any other error still is).
      const expected = `status of 401 (Unauthorized) (${base}/console/sign-in/code)`;
      const before = page.pharosConsoleErrors.length;
      page.pharosConsoleErrors = page.pharosConsoleErrors.filter((e) => !e.endsWith(expected));
      if (page.pharosConsoleErrors.length !== before - 1) throw new Error(`expected one logged 401, the page logged:\n${page.pharosConsoleErrors.join('\n')}`);
    });
    await checkPage(page, 'sign-in code: refused');
    await step('another recovery code works, and eight are left', async () => {
      await page.fill('#code', codes[1]);
      await Promise.all([page.waitForURL(`${base}/console`), page.click('form[action$="/sign-in/code"] button[type=submit]')]);
      await page.goto(`${base}/console/account`);
      const main = await page.locator('main').innerText();
      if (!main.includes('8 unused recovery codes left')) throw new Error(`the account page says:\n${main.slice(0, 800)}`);
    });
    await checkPage(page, 'account: on');
    await context.close();
  });
}

run(main);
