// Local OAuth2 / OpenID Connect authorization server for connvault's
// integration tests, built on the `oidc-provider` package (pinned in
// package.json). Non-interactive: login and consent are completed by the
// server itself. See README.md for the env / endpoint contract.
//
// stdout carries exactly one line, `OIDC_READY <issuer>`; everything else
// (oidc-provider notices, errors) goes to stderr.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

// oidc-provider prints its notices with console.info (stdout); keep stdout
// reserved for the ready line.
console.log = console.error;
console.info = console.error;

// ---------------------------------------------------------------- settings

const DEFAULT_CLIENTS = [
  {
    client_id: 'connvault',
    client_secret: 'connvault-test-secret',
    redirect_uris: ['http://127.0.0.1:1/oauth/callback/testidp'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'connvault-cc',
    client_secret: 'connvault-cc-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
];

function loadClients() {
  const raw = process.env.OIDC_CLIENTS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_CLIENTS;
  let clients;
  try {
    clients = JSON.parse(raw);
  } catch (err) {
    throw new Error(`OIDC_CLIENTS is not valid JSON: ${err.message}`);
  }
  if (!Array.isArray(clients)) throw new Error('OIDC_CLIENTS must be a JSON array of client metadata objects');
  return clients;
}

// Runtime-mutable settings (POST /__test/config).
const settings = {
  access_ttl: 3600,
  client_credentials_ttl: 3600,
  token_delay_ms: 0,
  // false: refresh tokens are not rotated and refresh responses carry none, as with
  // providers that keep one refresh token for the grant's life.
  rotate_refresh_tokens: true,
};

// Pending forced failures of POST /token (POST /__test/fail-token).
const failToken = { status: 503, remaining: 0, retry_after: undefined, error: 'temporarily_unavailable' };

// POST /token counters (GET /__test/stats).
let stats = { token_requests: {}, token_responses: {} };

function countTokenRequest(grantType) {
  stats.token_requests[grantType] = (stats.token_requests[grantType] || 0) + 1;
}

function countTokenResponse(grantType, status) {
  const byStatus = stats.token_responses[grantType] || (stats.token_responses[grantType] = {});
  byStatus[String(status)] = (byStatus[String(status)] || 0) + 1;
}

// Grants issued so far: grantId -> accountId (POST /__test/revoke-*).
const grants = new Map();

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// ------------------------------------------------------------ secret recorder

// With SECRETS_FILE set, every token and code the server issues or receives, and
// every PKCE verifier and state it receives, is appended to that file, one per
// line: the connvault tests fail when any of them reaches a log.
const SECRETS_FILE = process.env.SECRETS_FILE || '';
const RECEIVED_PARAMS = ['code', 'code_verifier', 'state', 'refresh_token', 'token', 'id_token_hint'];
const ISSUED_FIELDS = ['access_token', 'refresh_token', 'id_token', 'code'];
const recorded = new Set();

function recordSecret(value) {
  if (SECRETS_FILE === '' || typeof value !== 'string') return;
  const secret = value.trim();
  // Shorter values would match by chance; the scan ignores them too.
  if (secret.length < 8 || secret.includes('\n') || recorded.has(secret)) return;
  recorded.add(secret);
  try {
    fs.appendFileSync(SECRETS_FILE, `${secret}\n`);
  } catch (err) {
    console.error(`oidc test server: cannot record a secret in SECRETS_FILE: ${err.message}`);
  }
}

function recordParams(params, names) {
  if (!params || typeof params !== 'object') return;
  for (const name of names) {
    let value;
    try {
      value = params[name];
    } catch {
      continue;
    }
    if (typeof value === 'string') recordSecret(value);
  }
}

// The code and state (and, in implicit or hybrid responses, tokens) of a redirect.
function recordRedirect(location) {
  let url;
  try {
    url = new URL(location, 'http://127.0.0.1');
  } catch {
    return;
  }
  for (const query of [url.searchParams, new URLSearchParams(url.hash.replace(/^#/, ''))]) {
    for (const name of [...ISSUED_FIELDS, 'state']) {
      for (const value of query.getAll(name)) recordSecret(value);
    }
  }
}

// Innermost middleware: sees each request's parameters (query, and the body the
// provider parsed) and its response (a token response's JSON, a redirect's
// Location) before the outer token middleware edits the response.
function installSecretRecorder(provider) {
  if (SECRETS_FILE === '') return;
  provider.use(async (ctx, next) => {
    recordParams(ctx.query, RECEIVED_PARAMS);
    try {
      await next();
    } finally {
      const { oidc } = ctx;
      if (oidc) {
        let params;
        let body;
        try { ({ params } = oidc); } catch { /* not parsed for this route */ }
        try { ({ body } = oidc); } catch { /* not parsed for this route */ }
        recordParams(params, RECEIVED_PARAMS);
        recordParams(body, RECEIVED_PARAMS);
      }
      if (ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body)
          && typeof ctx.body.pipe !== 'function') {
        recordParams(ctx.body, ISSUED_FIELDS);
      }
      const location = ctx.response.get('location');
      if (location) recordRedirect(location);
    }
  });
  // Every token and code as the provider stores it (opaque ones: the id is the value).
  for (const event of ['access_token.saved', 'authorization_code.saved', 'refresh_token.saved',
    'client_credentials.saved']) {
    provider.on(event, (token) => { recordSecret(token && token.jti); });
  }
}

// ------------------------------------------------------------------ adapter

// Unbounded in-memory storage (the package's built-in one is an LRU of 1000
// entries and warns on every start).
const storage = new Map();
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

function sget(key) {
  const entry = storage.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    storage.delete(key);
    return undefined;
  }
  return entry.value;
}

function sset(key, value, expiresIn) {
  storage.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
}

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.model === 'Session') sset(`sessionUid:${payload.uid}`, id, expiresIn);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const gkey = `grant:${payload.grantId}`;
      const list = sget(gkey);
      if (list) list.push(key);
      else sset(gkey, [key]);
    }
    if (payload.userCode) sset(`userCode:${payload.userCode}`, id, expiresIn);
    sset(key, payload, expiresIn);
  }

  async find(id) {
    return sget(this.key(id));
  }

  async findByUid(uid) {
    const id = sget(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = sget(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = sget(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    storage.delete(this.key(id));
  }

  // eslint-disable-next-line class-methods-use-this
  async revokeByGrantId(grantId) {
    const gkey = `grant:${grantId}`;
    const list = sget(gkey);
    if (list) list.forEach((key) => storage.delete(key));
    storage.delete(gkey);
  }
}

// ---------------------------------------------------------------- provider

function buildConfiguration(clients) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256',
  };

  // Re-authenticate when the request's login_hint names another account than
  // the one logged in through the (cookie) session, so login_hint decides the
  // subject even for clients that keep their cookie jar between flows.
  const policy = interactionPolicy.base();
  policy.get('login').checks.push(new interactionPolicy.Check(
    'login_hint_mismatch',
    'login_hint does not match the authenticated End-User',
    'login_required',
    (ctx) => {
      const { oidc } = ctx;
      const hint = oidc.params.login_hint;
      if (hint && oidc.session.accountId && hint !== oidc.session.accountId) {
        return interactionPolicy.Check.REQUEST_PROMPT;
      }
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    },
  ));

  return {
    adapter: MemoryAdapter,
    clients,
    jwks: { keys: [signingKey] },
    // Unsigned (no `.sig` companions) and SameSite=Lax (no `.legacy`
    // duplicates): a hand-rolled test client only has to carry `_interaction`,
    // `_interaction_resume` and, optionally, `_session`. The key only keeps
    // oidc-provider from warning about missing cookie keys.
    cookies: {
      keys: ['connvault-oidc-test-cookie-key'],
      long: { signed: false, sameSite: 'lax' },
      short: { signed: false, sameSite: 'lax' },
    },
    scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
    claims: { openid: ['sub'] },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() { return { sub }; },
      };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = `<!DOCTYPE html><html><body>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>`;
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = '<!DOCTYPE html><html><body>Signed out.</body></html>';
        },
      },
    },
    pkce: {
      methods: ['S256'],
      required: () => true,
    },
    interactions: {
      policy,
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => settings.rotate_refresh_tokens,
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: () => settings.access_ttl,
      ClientCredentials: () => settings.client_credentials_ttl,
      AuthorizationCode: 600,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 60 * 60,
      Interaction: 3600,
      Session: 30 * 24 * 60 * 60,
      Grant: 365 * 24 * 60 * 60,
    },
  };
}

function installTokenMiddleware(provider) {
  provider.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/token') {
      await next();
      return;
    }

    if (failToken.remaining > 0) {
      failToken.remaining -= 1;
      const body = new URLSearchParams((await readBody(ctx.req)).toString('utf8'));
      recordParams(Object.fromEntries(body), RECEIVED_PARAMS);
      const grantType = body.get('grant_type') || 'unknown';
      countTokenRequest(grantType);
      if (settings.token_delay_ms > 0) await sleep(settings.token_delay_ms);
      ctx.status = failToken.status;
      ctx.set('Cache-Control', 'no-store');
      if (failToken.retry_after !== undefined) ctx.set('Retry-After', String(failToken.retry_after));
      ctx.body = { error: failToken.error };
      countTokenResponse(grantType, ctx.status);
      return;
    }

    try {
      await next();
    } finally {
      const params = ctx.oidc && (ctx.oidc.params || ctx.oidc.body);
      const grantType = (params && typeof params.grant_type === 'string' && params.grant_type) || 'unknown';
      countTokenRequest(grantType);
      if (grantType === 'refresh_token' && !settings.rotate_refresh_tokens
          && ctx.body && typeof ctx.body === 'object') {
        delete ctx.body.refresh_token;
      }
      if (settings.token_delay_ms > 0) await sleep(settings.token_delay_ms);
      countTokenResponse(grantType, ctx.status);
    }
  });
}

// -------------------------------------------------------------- interaction

async function handleInteraction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params, session, grantId } = details;

  const hint = typeof params.login_hint === 'string' && params.login_hint !== '' ? params.login_hint : undefined;
  if (hint === 'deny') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the user denied access',
    }, { mergeWithLastSubmission: false });
    return;
  }

  const accountId = hint || (session && session.accountId) || 'user-1';

  // Switching accounts on an existing cookie session makes oidc-provider
  // answer /auth/<uid> with an auto-submitting logout form (HTML + JS) instead
  // of a redirect. Drop the old session server-side so the resume starts from
  // an empty session and redirects as usual. Grants are kept.
  if (session && session.accountId && session.accountId !== accountId) {
    if (session.cookie) await provider.Session.adapter.destroy(session.cookie);
    // unbind the interaction from the dropped session (as resume.js does)
    delete details.session.uid;
    await details.save(details.exp - Math.floor(Date.now() / 1000));
  }

  let grant;
  if (grantId) {
    grant = await provider.Grant.find(grantId);
    if (grant && grant.accountId !== accountId) grant = undefined;
  }
  if (!grant) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }

  // Consent to everything that was asked for, so a single interaction round
  // suffices (the login prompt's details don't list the missing scopes).
  const scope = typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : [];
  if (scope.length) grant.addOIDCScope(scope.join(' '));
  if (typeof params.claims === 'string') {
    try {
      const claims = JSON.parse(params.claims);
      const names = new Set([
        ...Object.keys((claims && claims.userinfo) || {}),
        ...Object.keys((claims && claims.id_token) || {}),
      ]);
      if (names.size) grant.addOIDCClaims([...names]);
    } catch { /* the provider validated it already */ }
  }
  const promptDetails = (details.prompt && details.prompt.details) || {};
  if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
  if (promptDetails.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(promptDetails.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const savedGrantId = await grant.save();

  await provider.interactionFinished(req, res, {
    login: { accountId },
    consent: { grantId: savedGrantId },
  }, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------- test endpoints

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function readJson(req) {
  const body = (await readBody(req)).toString('utf8').trim();
  if (body === '') return {};
  const value = JSON.parse(body);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('body must be a JSON object');
  }
  return value;
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function nonNegativeInt(body, key) {
  const value = body[key];
  if (!Number.isInteger(value) || value < 0) throw new Error(`${key} must be a non-negative integer`);
  return value;
}

async function revokeGrantIds(provider, ids) {
  let revoked = 0;
  for (const id of ids) {
    // already gone (expired, or revoked by oidc-provider on refresh token reuse)?
    if (await provider.Grant.find(id)) revoked += 1;
    await provider.AccessToken.revokeByGrantId(id);
    await provider.RefreshToken.revokeByGrantId(id);
    await provider.AuthorizationCode.revokeByGrantId(id);
    await provider.Grant.adapter.destroy(id);
    grants.delete(id);
  }
  return revoked;
}

async function handleTestEndpoint(provider, req, res, path) {
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'GET /__test/stats':
      sendJson(res, 200, stats);
      return;
    case 'POST /__test/reset-stats':
      await readBody(req);
      stats = { token_requests: {}, token_responses: {} };
      sendJson(res, 200, stats);
      return;
    case 'POST /__test/config': {
      const body = await readJson(req);
      const next = { ...settings };
      for (const key of ['access_ttl', 'client_credentials_ttl']) {
        if (key in body) {
          next[key] = nonNegativeInt(body, key);
          if (next[key] === 0) throw new Error(`${key} must be at least 1`);
        }
      }
      if ('token_delay_ms' in body) next.token_delay_ms = nonNegativeInt(body, 'token_delay_ms');
      if ('rotate_refresh_tokens' in body) {
        if (typeof body.rotate_refresh_tokens !== 'boolean') throw new Error('rotate_refresh_tokens must be a boolean');
        next.rotate_refresh_tokens = body.rotate_refresh_tokens;
      }
      Object.assign(settings, next);
      sendJson(res, 200, settings);
      return;
    }
    case 'POST /__test/fail-token': {
      const body = await readJson(req);
      const status = 'status' in body ? nonNegativeInt(body, 'status') : 503;
      if (status < 400 || status > 599) throw new Error('status must be 400..599');
      const count = 'count' in body ? nonNegativeInt(body, 'count') : 1;
      const retryAfter = 'retry_after' in body && body.retry_after !== null
        ? nonNegativeInt(body, 'retry_after') : undefined;
      const error = typeof body.error === 'string' ? body.error : 'temporarily_unavailable';
      Object.assign(failToken, { status, remaining: count, retry_after: retryAfter, error });
      sendJson(res, 200, { status, count, retry_after: retryAfter ?? null, error });
      return;
    }
    case 'POST /__test/revoke-grants': {
      await readBody(req);
      const revoked = await revokeGrantIds(provider, [...grants.keys()]);
      sendJson(res, 200, { revoked_grants: revoked });
      return;
    }
    case 'POST /__test/revoke-account': {
      const body = await readJson(req);
      if (typeof body.account_id !== 'string') throw new Error('account_id must be a string');
      const ids = [...grants].filter(([, accountId]) => accountId === body.account_id).map(([id]) => id);
      const revoked = await revokeGrantIds(provider, ids);
      sendJson(res, 200, { revoked_grants: revoked });
      return;
    }
    default:
      sendJson(res, 404, { error: 'not_found', error_description: `no test endpoint ${route}` });
  }
}

// -------------------------------------------------------------------- main

function main() {
  const clients = loadClients();
  const port = Number.parseInt(process.env.PORT || '0', 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid PORT ${process.env.PORT}`);

  let provider;
  let callback;

  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    (async () => {
      if (path.startsWith('/__test/')) {
        try {
          await handleTestEndpoint(provider, req, res, path);
        } catch (err) {
          sendJson(res, 400, { error: 'invalid_request', error_description: err.message });
        }
        return;
      }
      if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(path)) {
        try {
          await handleInteraction(provider, req, res);
        } catch (err) {
          if (err.expose) console.error(`interaction failed: ${err.error}: ${err.error_description}`);
          else console.error('interaction failed:', err);
          if (!res.headersSent) {
            sendJson(res, err.statusCode || 500, {
              error: err.error || 'server_error',
              error_description: err.error_description || err.message,
            });
          }
        }
        return;
      }
      callback(req, res);
    })().catch((err) => {
      console.error('request failed:', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    });
  });

  server.listen(port, '127.0.0.1', async () => {
    const issuer = `http://127.0.0.1:${server.address().port}`;
    provider = new Provider(issuer, buildConfiguration(clients));
    // oidc-provider validates static client metadata lazily (on first use);
    // validate all of it now so a bad OIDC_CLIENTS fails at startup.
    try {
      for (const metadata of clients) {
        if (!metadata || typeof metadata.client_id !== 'string') throw new Error('every client needs a string client_id');
        await provider.Client.find(metadata.client_id);
      }
    } catch (err) {
      console.error(`oidc test server: invalid client metadata: ${err.error_description || err.message}`);
      process.exit(1);
    }
    provider.on('grant.saved', (grant) => { grants.set(grant.jti, grant.accountId); });
    provider.on('grant.destroyed', (grant) => { grants.delete(grant.jti); });
    provider.on('server_error', (ctx, err) => { console.error('oidc-provider server_error:', err); });
    installTokenMiddleware(provider);
    installSecretRecorder(provider);
    callback = provider.callback();
    process.stdout.write(`OIDC_READY ${issuer}\n`);
  });
  server.on('error', (err) => {
    console.error('server error:', err);
    process.exit(1);
  });
}

// Never outlive the test harness: stop when stdin closes or on a signal.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => process.exit(0));

try {
  main();
} catch (err) {
  console.error(`oidc test server: ${err.message}`);
  process.exit(1);
}
