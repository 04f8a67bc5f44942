// A real OpenID provider for sign-in tests (the npm `oidc-provider` package, certified by the
// OpenID Foundation), configured for what Pharos's console needs and nothing more:
//
//   - one confidential client (client_secret_basic by default), authorization code flow only,
//     PKCE (S256) required;
//   - scopes openid, profile, email and `groups`; the `groups` claim is in the ID token (and
//     from userinfo) when the `groups` scope is asked for;
//   - test accounts with passwords and groups (alice in pharos-admins, bob in pharos-viewers);
//   - its own sign-in pages: a login form (username, password) and a consent page, served at
//     /interaction/<uid>. A browser test signs in with `signIn(page, {username, password})`,
//     which fills the form and allows consent. A wrong password shows the form again with
//     "Invalid username or password." and signs nobody in.
//
// Signing keys and cookie keys are made fresh at every start, so nothing secret is stored in
// the repository. The client secret is test data, given by the configuration.
//
// Also here: the client side a test needs to prove a flow by itself (PKCE pair, authorization
// URL, code exchange, ID token verification against the provider's JWKS) with node:crypto,
// so nothing in the check depends on the library under test.

import { spawn } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify as verifySignature } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The configuration used when none is given; every key may be overridden (see `loadConfig`). */
export const DEFAULT_CONFIG = Object.freeze({
  host: '127.0.0.1',
  port: 0,
  // "form": the consent page is shown and must be allowed; "auto": consent is granted as soon
  // as the user has signed in (like an identity provider with first-party clients).
  consent: 'form',
  client: {
    client_id: 'pharos',
    client_secret: 'pharos-test-client-secret-0123456789',
    client_name: 'Pharos',
    redirect_uris: ['http://127.0.0.1:8080/auth/oidc/callback'],
    post_logout_redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  accounts: [
    { username: 'alice', password: 'alice-password', name: 'Alice Admin', email: 'alice@example.test', groups: ['pharos-admins'] },
    { username: 'bob', password: 'bob-password', name: 'Bob Viewer', email: 'bob@example.test', groups: ['pharos-viewers'] },
  ],
});

/**
 * The provider's configuration: DEFAULT_CONFIG, then `file` (a JSON file with any of its keys;
 * `client` is merged key by key, `accounts` replaces the list), then `overrides` (same shape).
 */
export function loadConfig({ file, overrides = {} } = {}) {
  const fromFile = file ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const merged = { ...DEFAULT_CONFIG, ...fromFile, ...overrides };
  merged.client = { ...DEFAULT_CONFIG.client, ...fromFile.client, ...overrides.client };
  merged.accounts = overrides.accounts ?? fromFile.accounts ?? DEFAULT_CONFIG.accounts;
  for (const a of merged.accounts) {
    if (!a.username || !a.password) throw new Error(`an account needs a username and a password: ${JSON.stringify({ ...a, password: a.password ? '…' : undefined })}`);
  }
  if (!['form', 'auto'].includes(merged.consent)) throw new Error(`consent must be "form" or "auto", got ${JSON.stringify(merged.consent)}`);
  if (!merged.client.redirect_uris?.length) throw new Error('the client needs at least one redirect URI');
  return merged;
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} – Test OpenID provider</title></head>
<body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return Object.fromEntries(new URLSearchParams(body));
}

function loginForm(uid, clientName, error) {
  return page(`Sign in to ${clientName}`, `
${error ? `<p role="alert" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>`);
}

function consentForm(uid, clientName, scopes) {
  return page(`Allow ${clientName}?`, `
<p>${escapeHtml(clientName)} asks for: <span id="scopes">${escapeHtml(scopes.join(' '))}</span></p>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">
<p><button type="submit">Allow</button></p>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Deny</a></p>`);
}

/** Grants what the consent prompt asks for and finishes the interaction. */
async function grantConsent(provider, req, res, details) {
  const { prompt, params, session } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  grant ??= new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
}

/** The sign-in pages at /interaction/<uid>[/login|/confirm|/abort]. */
async function interaction(provider, config, req, res) {
  const url = new URL(req.url, 'http://x');
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Wrong sign-in', '<p>This sign-in is not the one in progress.</p>'));
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName ?? details.params.client_id;

  if (req.method === 'GET' && action === undefined) {
    if (details.prompt.name === 'login') return send(res, 200, loginForm(uid, clientName));
    if (details.prompt.name === 'consent') {
      if (config.consent === 'auto') return grantConsent(provider, req, res, details);
      return send(res, 200, consentForm(uid, clientName, String(details.params.scope ?? '').split(' ')));
    }
    return send(res, 400, page('Unexpected prompt', `<p>${escapeHtml(details.prompt.name)}</p>`));
  }
  if (req.method === 'POST' && action === 'login' && details.prompt.name === 'login') {
    const form = await readForm(req);
    const account = config.accounts.find((a) => a.username === form.username);
    if (!account || account.password !== form.password) return send(res, 200, loginForm(uid, clientName, 'Invalid username or password.'));
    return provider.interactionFinished(req, res, { login: { accountId: account.sub ?? account.username } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && details.prompt.name === 'consent') {
    await readForm(req);
    return grantConsent(provider, req, res, details);
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled' }, { mergeWithLastSubmission: false });
  }
  return send(res, 404, page('Not found', '<p>No such sign-in step.</p>'));
}

/**
 * Starts the provider in this process on `config.host:config.port` (0: a free port) and
 * resolves once it accepts connections. Returns `{issuer, port, config, stop}`; `stop()`
 * closes the server and every open connection.
 */
export async function startProvider(config = loadConfig()) {
  // Loaded here, not at the top: the client helpers below are used without a provider in the
  // process, and oidc-provider announces itself on stderr when it is loaded.
  const { default: Provider } = await import('oidc-provider');
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address();
  const issuer = `http://${config.host}:${port}`;

  // A fresh signing key for every start: nothing secret is kept anywhere.
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const accounts = new Map(config.accounts.map((a) => [a.sub ?? a.username, a]));
  const provider = new Provider(issuer, {
    clients: [{
      ...config.client,
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [{ ...signing, kid: `pharos-test-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    // The groups claim belongs in the ID token: the console decides who may do what from it,
    // and oidc-provider would otherwise keep scope claims for userinfo only.
    conformIdTokenClaims: false,
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, i) => `/interaction/${i.uid}` },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    async findAccount(_ctx, sub) {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            name: a.name ?? a.username,
            preferred_username: a.username,
            email: a.email,
            // An account may say its address is unverified (`email_verified: false`), as a
            // provider that lets people type any address does.
            email_verified: a.email_verified ?? a.email !== undefined,
            groups: a.groups ?? [],
          };
        },
      };
    },
  });
  // The provider logs its errors through this event; a test reads them on stderr.
  provider.on('server_error', (_ctx, err) => console.error(`oidc-provider: server error: ${err.stack ?? err}`));

  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, config, req, res).catch((err) => {
        console.error(`oidc-provider: interaction failed: ${err.stack ?? err}`);
        if (!res.headersSent) send(res, 500, page('Sign-in failed', `<p>${escapeHtml(err.message)}</p>`));
        else res.end();
      });
    } else {
      callback(req, res);
    }
  });

  return {
    issuer,
    port,
    config,
    provider,
    stop: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * Drives the provider's sign-in pages in `page`, which must be on (or heading to) the login
 * form: fills username and password, signs in, and allows consent when asked. Resolves once
 * the browser has left the provider, i.e. has followed the redirect to the client (the
 * client's own page may still be loading: wait for it as for any page), with `{consented}`
 * saying whether the consent page was shown. With `expectError`, resolves with the refusal
 * text shown on the login form instead, and throws if there is none.
 */
export async function signIn(page, { username, password, deadlineMs = 15_000, expectError = false }) {
  await page.waitForSelector('form input[name=username]', { timeout: deadlineMs });
  const provider = new URL(page.url()).origin;
  const onProvider = () => new URL(page.url()).origin === provider;
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation({ timeout: deadlineMs }), page.click('form button[type=submit]')]);
  const refusal = onProvider() ? await page.$('[role=alert]') : null;
  if (expectError) {
    if (!refusal) throw new Error(`the provider signed ${username} in; a refusal was expected`);
    return refusal.innerText();
  }
  if (refusal) throw new Error(`the provider refused ${username}: ${await refusal.innerText()}`);
  const allow = onProvider() ? await page.$('form[action$="/confirm"] button[type=submit]') : null;
  if (allow) await Promise.all([page.waitForNavigation({ timeout: deadlineMs }), allow.click()]);
  if (onProvider()) throw new Error(`still on the provider after signing in: ${page.url()}`);
  return { consented: allow !== null };
}

/** A PKCE pair (RFC 7636, S256): `{verifier, challenge}`. */
export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The provider's discovery document, checked to be its own. */
export async function discover(issuer) {
  const r = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`discovery answered ${r.status}`);
  const doc = await r.json();
  if (doc.issuer !== issuer) throw new Error(`discovery names issuer ${doc.issuer}, expected ${issuer}`);
  return doc;
}

/** An authorization request URL (code flow); leave `challenge` out to send none. */
export function authorizationUrl(discovery, { clientId, redirectUri, scope = 'openid profile email groups', state, nonce, challenge }) {
  const u = new URL(discovery.authorization_endpoint);
  const q = { response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state, nonce };
  if (challenge) Object.assign(q, { code_challenge: challenge, code_challenge_method: 'S256' });
  for (const [k, v] of Object.entries(q)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Exchanges an authorization code at the token endpoint with client_secret_basic. Returns
 * `{status, body}` whatever the answer, so a test can assert a refusal too.
 */
export async function exchangeCode(discovery, { clientId, clientSecret, code, redirectUri, verifier }) {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri });
  if (verifier !== undefined) form.set('code_verifier', verifier);
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  const r = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, body: await r.json() };
}

/**
 * Verifies an ID token: RS256 signature by a key in the provider's JWKS, `iss`, `aud` (and
 * `azp` when present), `nonce`, and that it is current. Returns its claims; throws naming the
 * first check that fails.
 */
export async function verifyIdToken(idToken, discovery, { audience, nonce, now = Date.now() / 1000 }) {
  const [h, p, s] = idToken.split('.');
  if (!s) throw new Error('the ID token is not a signed JWT');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  if (header.alg !== 'RS256') throw new Error(`ID token alg ${header.alg}, expected RS256`);
  const jwks = await (await fetch(discovery.jwks_uri, { signal: AbortSignal.timeout(10_000) })).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no key ${header.kid} in the provider's JWKS`);
  const good = verifySignature('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  if (!good) throw new Error('the ID token signature does not verify');
  if (claims.iss !== discovery.issuer) throw new Error(`iss ${claims.iss}, expected ${discovery.issuer}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(audience)) throw new Error(`aud ${JSON.stringify(claims.aud)} does not include ${audience}`);
  if (claims.azp !== undefined && claims.azp !== audience) throw new Error(`azp ${claims.azp}, expected ${audience}`);
  if (claims.nonce !== nonce) throw new Error('nonce does not match the one sent');
  if (!(claims.exp > now)) throw new Error(`expired (exp ${claims.exp}, now ${Math.floor(now)})`);
  if (!(claims.iat <= now + 60)) throw new Error(`issued in the future (iat ${claims.iat})`);
  return claims;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * Runs `oidc-server.mjs` as a child process with `config` (the shape of DEFAULT_CONFIG,
 * written to a temporary file) and resolves with `{issuer, stop}` once it has printed its
 * ready line, within `deadlineMs`. `stop()` sends SIGTERM and waits for the exit (SIGKILL
 * after 5 s). This is how tests outside Node (cargo's) start it too, by the same protocol.
 */
export async function spawnProvider(config = {}, { deadlineMs = 15_000 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pharos-oidc-'));
  const file = path.join(dir, 'oidc.json');
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  const child = spawn(process.execPath, [path.join(HERE, '..', 'oidc-server.mjs'), '--config', file], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`oidc-server.mjs printed no ready line within ${deadlineMs} ms`)), deadlineMs);
      const lines = createInterface({ input: child.stdout });
      lines.once('line', (line) => { clearTimeout(timer); resolve(JSON.parse(line)); });
      exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`oidc-server.mjs exited (${code ?? signal}) before it was ready`)); });
    });
    return { issuer: ready.issuer, ready, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
