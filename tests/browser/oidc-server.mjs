#!/usr/bin/env node
// A real OpenID provider for Pharos's sign-in tests, as a process (lib/oidc.mjs says what it
// offers). Any test, in any language, starts it, reads one line, and stops it:
//
//   node tests/browser/oidc-server.mjs [--config oidc.json] [--port 0] [--host 127.0.0.1]
//        [--client-id pharos] [--client-secret …] [--redirect-uri URL]… [--consent form|auto]
//
// The JSON file has the shape of DEFAULT_CONFIG in lib/oidc.mjs (`client`, `accounts`,
// `consent`, `host`, `port`); flags override it. When ready it prints exactly one JSON line on
// stdout, `{"issuer":"http://127.0.0.1:PORT","port":PORT,"client_id":"pharos",
// "accounts":["alice","bob"]}` (never the secret, never a password); everything else goes to
// stderr. It exits on SIGTERM or SIGINT, and when its stdin is a pipe that closes, so it
// dies with the test that started it even if that test could not stop it.

import { fstatSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, startProvider } from './lib/oidc.mjs';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    consent: { type: 'string' },
  },
  strict: true,
});

const overrides = { client: {} };
if (values.host) overrides.host = values.host;
if (values.port !== undefined) overrides.port = Number(values.port);
if (values.consent) overrides.consent = values.consent;
if (values['client-id']) overrides.client.client_id = values['client-id'];
if (values['client-secret']) overrides.client.client_secret = values['client-secret'];
if (values['redirect-uri']) overrides.client.redirect_uris = values['redirect-uri'];

let running;
try {
  running = await startProvider(loadConfig({ file: values.config, overrides }));
} catch (err) {
  console.error(`oidc-server: cannot start: ${err.message}`);
  process.exit(1);
}

let stopping = false;
async function stop(why) {
  if (stopping) return;
  stopping = true;
  console.error(`oidc-server: stopping (${why})`);
  await running.stop();
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

// Only a pipe can tell that the parent is gone; a terminal or /dev/null never closes usefully.
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('error', () => stop('stdin failed'));
  process.stdin.resume();
}

const { config } = running;
console.log(JSON.stringify({
  issuer: running.issuer,
  port: running.port,
  client_id: config.client.client_id,
  redirect_uris: config.client.redirect_uris,
  accounts: config.accounts.map((a) => a.username),
}));
