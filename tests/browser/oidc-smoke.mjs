// Proves the test OpenID provider works headlessly in Chromium, the way the console's sign-in
// tests will use it, with a redirect receiver of its own standing in for Pharos:
//
//   1. oidc-server.mjs starts as a process and prints its issuer; discovery names it and
//      offers S256 PKCE;
//   2. an authorization request without PKCE is refused (error=invalid_request at the
//      redirect URI): PKCE is required;
//   3. alice: a wrong password is refused on the login form; the right one, then consent,
//      lead to the redirect URI with a code and the state sent;
//   4. the code with a wrong code_verifier is refused (invalid_grant); with the right one it
//      gives an ID token whose signature verifies against the JWKS, with iss, aud, nonce and
//      groups ["pharos-admins"]; userinfo gives the same groups;
//   5. bob, in a fresh browser context, gets groups ["pharos-viewers"]; denying consent
//      instead reaches the client as error=access_denied;
//   6. the provider stops on SIGTERM.
//
//   PHAROS_TEST_CHROMIUM=/usr/bin/chromium node oidc-smoke.mjs
//
// Prints one JSON line `{"ok":true,…}` and exits 0, or says what failed on stderr, prints
// `{"ok":false,…}` and exits 1.

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { until, withBrowser } from './lib/browser.mjs';
import { authorizationUrl, discover, exchangeCode, pkcePair, signIn, spawnProvider, verifyIdToken } from './lib/oidc.mjs';

const OVERALL_DEADLINE_MS = 90_000;
const CLIENT_ID = 'pharos-smoke';
// Test data: a client secret only this run's provider knows. Never printed.
const CLIENT_SECRET = randomBytes(24).toString('base64url');

const started = Date.now();
const summary = { ok: false, script: 'oidc-smoke', ms: 0, steps: {} };
let failure;
const cleanups = [];

async function finish() {
  for (const c of cleanups.reverse()) await c().catch((err) => console.error(`cleanup: ${err.message}`));
  summary.ms = Date.now() - started;
  summary.ok = failure === undefined;
  if (failure) {
    summary.failure = failure.split('\n')[0];
    console.error(`FAIL ${failure}`);
  }
  console.log(JSON.stringify(summary));
  process.exitCode = summary.ok ? 0 : 1;
}

const watchdog = setTimeout(() => {
  failure = `the run took longer than ${OVERALL_DEADLINE_MS} ms`;
  finish().finally(() => process.exit(1));
}, OVERALL_DEADLINE_MS);
watchdog.unref();

/** Runs one named step, timing it; a failure stops the run with the step's name. */
async function step(name, fn) {
  const t = Date.now();
  try {
    const v = await fn();
    summary.steps[name] = Date.now() - t;
    return v;
  } catch (err) {
    throw new Error(`${name}: ${err.message}`, { cause: err });
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** The client's redirect URI: remembers every query it is called with, answers a small page. */
async function startReceiver() {
  const seen = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://receiver');
    if (url.pathname === '/callback') seen.push(Object.fromEntries(url.searchParams));
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Signed in</title><main><h1>Callback received</h1></main></html>');
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${server.address().port}/callback`;
  const stop = () => new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
  return { redirectUri, seen, stop };
}

/** The next callback the receiver gets after `before` of them, within the deadline. */
const callbackAfter = (receiver, before) => until('the redirect to the client', () => receiver.seen[before]);

/**
 * One whole sign-in as `account` in a fresh context: returns the tokens and the ID token's
 * verified claims. `checkWrongVerifier` also proves the token endpoint checks PKCE.
 */
async function signInAs(browser, discovery, receiver, account, { wrongPasswordFirst = false, checkWrongVerifier = false } = {}) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const { verifier, challenge } = pkcePair();
    const state = randomBytes(12).toString('base64url');
    const nonce = randomBytes(12).toString('base64url');
    const before = receiver.seen.length;
    await page.goto(authorizationUrl(discovery, { clientId: CLIENT_ID, redirectUri: receiver.redirectUri, state, nonce, challenge }));
    if (wrongPasswordFirst) {
      const refusal = await step(`${account.username}: wrong password refused`, () => signIn(page, { ...account, password: 'not-the-password', expectError: true }));
      assert(/invalid username or password/i.test(refusal), `unexpected refusal text: ${refusal}`);
      assert(receiver.seen.length === before, 'a wrong password reached the client');
    }
    const { consented } = await step(`${account.username}: login and consent`, () => signIn(page, account));
    assert(consented, 'the consent page was not shown (the provider runs with consent "form")');
    const callback = await step(`${account.username}: redirect with a code`, () => callbackAfter(receiver, before));
    assert(!callback.error, `the provider answered ${callback.error}: ${callback.error_description}`);
    assert(callback.state === state, 'the state came back changed');
    assert(callback.iss === discovery.issuer, `iss in the authorization response is ${callback.iss} (RFC 9207)`);
    assert(typeof callback.code === 'string' && callback.code.length > 0, 'no code');

    const exchange = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, code: callback.code, redirectUri: receiver.redirectUri };
    if (checkWrongVerifier) {
      await step('token endpoint refuses a wrong code_verifier', async () => {
        const wrong = await exchangeCode(discovery, { ...exchange, verifier: pkcePair().verifier });
        assert(wrong.status === 400 && wrong.body.error === 'invalid_grant', `answered ${wrong.status} ${JSON.stringify(wrong.body.error)}`);
        const none = await exchangeCode(discovery, { ...exchange, verifier: undefined });
        assert(none.status === 400 && none.body.error === 'invalid_grant', `without a verifier: answered ${none.status} ${JSON.stringify(none.body.error)}`);
      });
    }
    const tokens = await step(`${account.username}: code exchanged`, async () => {
      const r = await exchangeCode(discovery, { ...exchange, verifier });
      assert(r.status === 200, `token endpoint answered ${r.status} ${r.body.error ?? ''} ${r.body.error_description ?? ''}`);
      assert(r.body.id_token && r.body.access_token, 'no id_token or access_token');
      return r.body;
    });
    const claims = await step(`${account.username}: ID token verified`, () => verifyIdToken(tokens.id_token, discovery, { audience: CLIENT_ID, nonce }));
    assert(claims.sub === account.username, `sub ${claims.sub}, expected ${account.username}`);
    assert(JSON.stringify(claims.groups) === JSON.stringify(account.groups), `groups ${JSON.stringify(claims.groups)}, expected ${JSON.stringify(account.groups)}`);
    await step(`${account.username}: userinfo`, async () => {
      const r = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` }, signal: AbortSignal.timeout(10_000) });
      assert(r.ok, `userinfo answered ${r.status}`);
      const info = await r.json();
      assert(info.sub === claims.sub && JSON.stringify(info.groups) === JSON.stringify(account.groups), `userinfo ${JSON.stringify({ sub: info.sub, groups: info.groups })}`);
    });
    return claims;
  } finally {
    await context.close().catch(() => {});
  }
}

async function main() {
  const receiver = await startReceiver();
  cleanups.push(receiver.stop);
  const alice = { username: 'alice', password: `alice-${randomBytes(6).toString('hex')}`, groups: ['pharos-admins'] };
  const bob = { username: 'bob', password: `bob-${randomBytes(6).toString('hex')}`, groups: ['pharos-viewers'] };

  const provider = await step('provider started', () => spawnProvider({
    client: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [receiver.redirectUri] },
    accounts: [alice, bob].map((a) => ({ ...a, email: `${a.username}@example.test` })),
  }));
  cleanups.push(provider.stop);
  summary.issuer = provider.issuer;

  const discovery = await step('discovery', async () => {
    const d = await discover(provider.issuer);
    assert(d.code_challenge_methods_supported?.includes('S256'), 'S256 is not offered');
    assert(d.scopes_supported?.includes('groups'), 'the groups scope is not offered');
    return d;
  });

  await withBrowser(async (browser) => {
    await step('a request without PKCE is refused', async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const before = receiver.seen.length;
        await page.goto(authorizationUrl(discovery, { clientId: CLIENT_ID, redirectUri: receiver.redirectUri, state: 's', nonce: 'n' }));
        const cb = await callbackAfter(receiver, before);
        assert(cb.error === 'invalid_request' && !cb.code, `answered ${JSON.stringify({ error: cb.error, code: cb.code ? 'a code' : undefined })}`);
      } finally {
        await context.close().catch(() => {});
      }
    });
    await step('denied consent reaches the client as access_denied', async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const before = receiver.seen.length;
        const { challenge } = pkcePair();
        await page.goto(authorizationUrl(discovery, { clientId: CLIENT_ID, redirectUri: receiver.redirectUri, state: 'd', nonce: 'n', challenge }));
        await page.fill('input[name=username]', bob.username);
        await page.fill('input[name=password]', bob.password);
        await Promise.all([page.waitForNavigation(), page.click('form button[type=submit]')]);
        await page.click('a:text("Deny")');
        const cb = await callbackAfter(receiver, before);
        assert(cb.error === 'access_denied' && cb.state === 'd' && !cb.code, `answered ${JSON.stringify({ error: cb.error, state: cb.state, code: cb.code ? 'a code' : undefined })}`);
      } finally {
        await context.close().catch(() => {});
      }
    });
    const a = await signInAs(browser, discovery, receiver, alice, { wrongPasswordFirst: true, checkWrongVerifier: true });
    const b = await signInAs(browser, discovery, receiver, bob);
    summary.groups = { [a.sub]: a.groups, [b.sub]: b.groups };
  });

  await step('provider stopped by SIGTERM', async () => {
    await provider.stop();
    const { exitCode, signalCode } = provider.child;
    assert(exitCode === 0, `exited with ${exitCode ?? signalCode}`);
  });
}

main()
  .catch((err) => { failure = err.stack ?? String(err); })
  .finally(finish);
