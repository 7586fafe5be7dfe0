// idp.mjs runs oidc-provider as the OpenID provider that Toolgate's tests
// sign in with. It listens on 127.0.0.1 over plain HTTP, and its issuer is
// http://127.0.0.1:<port>.
//
//   node idp.mjs --config FILE [--port 0] [--access-token-ttl SECONDS]
//
// The config file is JSON:
//
//   {
//     "clients": [{"client_id": "...", "client_secret": "...",
//                  "redirect_uris": ["http://127.0.0.1:8080/callback"],
//                  "token_endpoint_auth_method": "client_secret_basic"}],
//     "users": [{"id": "alice", "password": "...", "name": "Alice",
//                "email": "alice@example.test", "roles": ["admin"]}],
//     "access_token_ttl": 3600
//   }
//
// A user's name defaults to the id and the email to <id>@example.test.
//
// A client with redirect URIs may use the authorization_code and
// refresh_token grants. A client without redirect URIs may only call the
// introspection and revocation endpoints, which is what a resource server
// needs.
//
// Behaviour that tests rely on:
//   - PKCE with S256 is required for every authorization request.
//   - A refresh token is issued on every authorization_code exchange, without
//     the offline_access scope, through the issueRefreshToken hook. Refresh
//     tokens do not end with the browser session.
//   - Every refresh rotates the refresh token. Presenting a rotated refresh
//     token again fails with invalid_grant and, as replay detection, revokes
//     the whole grant, so the newest refresh token stops working too.
//   - The openid scope carries sub and roles, email carries email and
//     email_verified, profile carries name. The ID token contains them all,
//     because conformIdTokenClaims is off.
//   - A resource indicator (RFC 8707) naming an http URL on a loopback host
//     is accepted. Access tokens for it are opaque, so that they can be
//     introspected. They have the URL as audience and carry the scope
//     mcp:tools when the client requested it. The userinfo endpoint accepts
//     only access tokens issued without a resource indicator.
//   - Introspection and revocation (RFC 7662, RFC 7009) are enabled.
//
// Test hooks, not part of OpenID Connect:
//   POST /__test/revoke-grants?account=ID  revokes every grant of the account
//        and the tokens issued under them, as if the user removed the app's
//        access in the provider's account page. Returns {"revoked": N}.
//   GET  /__test/health                    returns {"status": "ok"}.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { Provider, errors } from 'oidc-provider';

import { escapeHtml, handleInteraction, sendPage } from './lib/interactions.mjs';
import {
  announceReady, closeServer, listenOnLoopback, parsePort, stopOnSignalOrStdinEnd,
} from './lib/lifecycle.mjs';

const defaultAccessTokenTTL = 3600;
const resourceScope = 'mcp:tools';
const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

async function main() {
  const { values: flags } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: '0' },
      'access-token-ttl': { type: 'string' },
    },
  });
  if (!flags.config) {
    throw new Error('missing --config FILE');
  }

  const config = parseConfig(JSON.parse(await readFile(flags.config, 'utf8')));
  if (flags['access-token-ttl'] !== undefined) {
    config.accessTokenTTL = parseTTL(flags['access-token-ttl'], '--access-token-ttl');
  }

  // The issuer contains the port, so the socket is bound before the provider
  // exists, and requests are routed once it does.
  const server = createServer();
  const port = await listenOnLoopback(server, parsePort(flags.port));
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, providerConfiguration(config));
  const grantsByAccount = trackGrants(provider);
  logProviderErrors(provider);

  const providerCallback = provider.callback();
  server.on('request', (req, res) => {
    route(req, res, { provider, providerCallback, config, grantsByAccount }).catch((err) => {
      console.error(`idp: ${req.method} ${req.url} failed:`, err);
      if (!res.headersSent) {
        sendPage(res, 500, 'Server error', '<p>The test IdP failed; see its stderr.</p>');
      }
    });
  });

  stopOnSignalOrStdinEnd('idp', () => closeServer(server));
  announceReady(issuer);
}

async function route(req, res, { provider, providerCallback, config, grantsByAccount }) {
  const url = new URL(req.url, 'http://127.0.0.1');

  if (url.pathname === '/__test/health' && req.method === 'GET') {
    sendJSON(res, 200, { status: 'ok' });
    return;
  }
  if (url.pathname === '/__test/revoke-grants') {
    await revokeAccountGrants(provider, grantsByAccount, req, res, url);
    return;
  }
  if (await handleInteraction(provider, config.accounts, req, res, url)) {
    return;
  }
  providerCallback(req, res);
}

function providerConfiguration(config) {
  const { accessTokenTTL, accounts } = config;

  return {
    clients: config.clients,
    clientDefaults: {
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },

    findAccount: (ctx, sub) => findAccount(accounts, sub),
    claims: {
      openid: ['sub', 'roles'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    conformIdTokenClaims: false,
    extraTokenClaims: (ctx, token) => accessTokenClaims(accounts, token),

    responseTypes: ['code'],
    pkce: { required: () => true },
    issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    expiresWithSession: () => false,

    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },

    features: {
      devInteractions: { enabled: false },
      // Every client here authenticates with a secret, so any of them may
      // introspect any token, as a resource server must.
      introspection: { enabled: true, allowedPolicy: () => true },
      revocation: { enabled: true, allowedPolicy: revocationAllowed },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (ctx, indicator) => loopbackResourceServer(indicator, accessTokenTTL),
        // A token request without a resource parameter still gets an access
        // token for the resource the user granted.
        useGrantedResource: () => true,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource,
        postLogoutSuccessSource,
      },
    },

    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError,
  };
}

// signingKey creates the ID token signing key for this run. Tokens do not
// outlive the process, so the key is not stored.
function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test-rs256' };
}

function findAccount(accounts, sub) {
  const account = accounts.get(sub);
  if (!account) {
    return undefined;
  }
  return {
    accountId: account.id,
    claims: () => ({
      sub: account.id,
      name: account.name,
      email: account.email,
      email_verified: true,
      roles: account.roles,
    }),
  };
}

// accessTokenClaims puts the user's roles into access tokens, where the
// introspection response returns them.
function accessTokenClaims(accounts, token) {
  const account = token.accountId ? accounts.get(token.accountId) : undefined;
  if (!account) {
    return undefined;
  }
  return { roles: account.roles };
}

function loopbackResourceServer(indicator, accessTokenTTL) {
  const url = URL.parse(indicator);
  if (!url || url.protocol !== 'http:' || !loopbackHosts.has(url.hostname)) {
    throw new errors.InvalidTarget(`resource indicator ${indicator} is not an http URL on a loopback host`);
  }
  return {
    scope: resourceScope,
    audience: indicator,
    accessTokenFormat: 'opaque',
    accessTokenTTL,
  };
}

// revocationAllowed lets only the client a token was issued to revoke it, and
// rejects others with an error, as RFC 7009 section 2.1 requires.
function revocationAllowed(ctx, client, token) {
  if (token.clientId !== client.clientId) {
    throw new errors.UnauthorizedClient('the token was issued to another client');
  }
  return true;
}

// trackGrants records the grant ids of each account, because oidc-provider's
// memory adapter cannot look grants up by account.
function trackGrants(provider) {
  const grantsByAccount = new Map();
  provider.on('grant.saved', (grant) => {
    if (!grantsByAccount.has(grant.accountId)) {
      grantsByAccount.set(grant.accountId, new Set());
    }
    grantsByAccount.get(grant.accountId).add(grant.jti);
  });
  provider.on('grant.destroyed', (grant) => {
    grantsByAccount.get(grant.accountId)?.delete(grant.jti);
  });
  return grantsByAccount;
}

async function revokeAccountGrants(provider, grantsByAccount, req, res, url) {
  if (req.method !== 'POST') {
    sendJSON(res, 405, { error: 'method_not_allowed', error_description: 'use POST' });
    return;
  }
  const accountId = url.searchParams.get('account');
  if (!accountId) {
    sendJSON(res, 400, { error: 'invalid_request', error_description: 'missing account query parameter' });
    return;
  }

  const grantIds = [...(grantsByAccount.get(accountId) ?? [])];
  for (const grantId of grantIds) {
    await Promise.all([
      provider.AccessToken.revokeByGrantId(grantId),
      provider.RefreshToken.revokeByGrantId(grantId),
      provider.AuthorizationCode.revokeByGrantId(grantId),
    ]);
    await provider.Grant.adapter.destroy(grantId);
  }
  grantsByAccount.delete(accountId);

  console.error(`idp: revoked ${grantIds.length} grants of account ${accountId}`);
  sendJSON(res, 200, { revoked: grantIds.length });
}

// logProviderErrors writes failed requests to stderr, which the Go harness
// shows when a test fails. Error descriptions from oidc-provider name the
// failed check and do not contain token values.
function logProviderErrors(provider) {
  const events = [
    'authorization.error', 'grant.error', 'introspection.error', 'revocation.error',
    'userinfo.error', 'end_session.error', 'discovery.error', 'jwks.error',
  ];
  for (const event of events) {
    provider.on(event, (ctx, err) => {
      const detail = err.error_detail ? ` (${err.error_detail})` : '';
      console.error(`idp: ${event}: ${err.message}: ${err.error_description ?? ''}${detail}`);
    });
  }
  provider.on('server_error', (ctx, err) => {
    console.error('idp: server_error:', err);
  });
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<p><code>${escapeHtml(key)}</code>: <span id="${escapeHtml(key)}">${escapeHtml(value)}</span></p>`)
    .join('');
  ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Error</title></head>
<body><h1>Error</h1>${rows}</body></html>
`;
}

async function logoutSource(ctx, form) {
  ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head>
<body><h1>Sign out of ${escapeHtml(ctx.host)}?</h1>
${form}
<button id="logout" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button id="stay" type="submit" form="op.logoutForm">Stay signed in</button>
</body></html>
`;
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><h1>Signed out</h1></body></html>
`;
}

function sendJSON(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

// parseConfig checks the config file and converts it to oidc-provider's
// client metadata and an account map keyed by user id.
function parseConfig(raw) {
  const clients = (raw.clients ?? []).map((client, i) => {
    const where = `clients[${i}]`;
    requireString(client.client_id, `${where}.client_id`);
    requireString(client.client_secret, `${where}.client_secret`);

    const method = client.token_endpoint_auth_method ?? 'client_secret_basic';
    if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
      throw new Error(`${where}.token_endpoint_auth_method ${JSON.stringify(method)}: want client_secret_basic or client_secret_post`);
    }

    const redirectURIs = client.redirect_uris ?? [];
    const interactive = redirectURIs.length > 0;
    return {
      client_id: client.client_id,
      client_secret: client.client_secret,
      token_endpoint_auth_method: method,
      redirect_uris: redirectURIs,
      grant_types: interactive ? ['authorization_code', 'refresh_token'] : [],
      response_types: interactive ? ['code'] : [],
    };
  });

  const accounts = new Map();
  (raw.users ?? []).forEach((user, i) => {
    const where = `users[${i}]`;
    requireString(user.id, `${where}.id`);
    requireString(user.password, `${where}.password`);
    if (accounts.has(user.id)) {
      throw new Error(`${where}.id ${JSON.stringify(user.id)} is a duplicate`);
    }
    accounts.set(user.id, {
      id: user.id,
      password: user.password,
      name: user.name ?? user.id,
      email: user.email ?? `${user.id}@example.test`,
      roles: user.roles ?? [],
    });
  });

  const accessTokenTTL = raw.access_token_ttl === undefined
    ? defaultAccessTokenTTL
    : parseTTL(raw.access_token_ttl, 'access_token_ttl');

  return { clients, accounts, accessTokenTTL };
}

function parseTTL(value, name) {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new Error(`invalid ${name} ${JSON.stringify(value)}: want a whole number of seconds, at least 1`);
  }
  return seconds;
}

function requireString(value, name) {
  if (typeof value !== 'string' || value === '') {
    throw new Error(`missing ${name}`);
  }
}

main().catch((err) => {
  console.error('idp: start failed:', err);
  process.exit(1);
});
