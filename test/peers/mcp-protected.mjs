// mcp-protected.mjs runs an MCP server over Streamable HTTP that serves only
// requests that carry an access token from the test IdP. It is built from the
// MCP TypeScript SDK's server classes and auth helpers.
//
//   node mcp-protected.mjs --issuer URL --client-id ID --client-secret SECRET
//       [--client-auth-method client_secret_basic|client_secret_post] [--port 0]
//
// The MCP endpoint is http://127.0.0.1:<port>/mcp, which is also the
// resource identifier (RFC 8707) that tokens must be issued for.
//
// Each request's bearer token is checked at the IdP's introspection endpoint
// (RFC 7662) with the client given on the command line, on every request and
// without caching, so a revoked token is refused at once. A token is accepted
// when it is active, is an access token, has a subject, has not expired and
// lists the MCP endpoint URL in its audience. Otherwise the server responds
// with 401 and WWW-Authenticate: Bearer ... resource_metadata="<metadata URL>".
//
// Protected resource metadata (RFC 9728) is served at
// /.well-known/oauth-protected-resource/mcp, which the 401 points to, and
// also at /.well-known/oauth-protected-resource.
//
// Tools keep per-user state keyed by the token's sub, so two users see
// different results:
//   list_events               the caller's calendar events
//   create_event(title, date) adds an event; date is YYYY-MM-DD
//   whoami                    the caller's sub, roles, client_id and scopes
//
// Sessions are bound to the user who initialized them: a request for another
// user's session gets 403.

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import {
  getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter,
} from '@modelcontextprotocol/sdk/server/auth/router.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

import {
  announceReady, closeServer, listenOnLoopback, parsePort, stopOnSignalOrStdinEnd,
} from './lib/lifecycle.mjs';

const resourceScope = 'mcp:tools';

async function main() {
  const { values: flags } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'client-auth-method': { type: 'string', default: 'client_secret_basic' },
    },
  });
  for (const name of ['issuer', 'client-id', 'client-secret']) {
    if (!flags[name]) {
      throw new Error(`missing --${name}`);
    }
  }
  const authMethod = flags['client-auth-method'];
  if (authMethod !== 'client_secret_basic' && authMethod !== 'client_secret_post') {
    throw new Error(`invalid --client-auth-method ${JSON.stringify(authMethod)}: want client_secret_basic or client_secret_post`);
  }

  const issuerMetadata = await fetchIssuerMetadata(flags.issuer);
  const introspection = {
    endpoint: issuerMetadata.introspection_endpoint,
    clientId: flags['client-id'],
    clientSecret: flags['client-secret'],
    authMethod,
  };

  // The resource URL contains the port, so the socket is bound first.
  const server = createServer();
  const port = await listenOnLoopback(server, parsePort(flags.port));
  const resourceUrl = new URL(`http://127.0.0.1:${port}/mcp`);

  const app = buildApp({ issuerMetadata, introspection, resourceUrl });
  server.on('request', app);

  stopOnSignalOrStdinEnd('mcp-protected', () => closeServer(server));
  announceReady(resourceUrl.href);
}

async function fetchIssuerMetadata(issuer) {
  const url = new URL('/.well-known/openid-configuration', issuer);
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`fetch ${url}: HTTP ${response.status}`);
  }
  const metadata = await response.json();
  if (!metadata.introspection_endpoint) {
    throw new Error(`issuer ${issuer} has no introspection_endpoint; enable introspection`);
  }
  return metadata;
}

function buildApp({ issuerMetadata, introspection, resourceUrl }) {
  const app = createMcpExpressApp({ host: '127.0.0.1' });

  const metadataRouter = mcpAuthMetadataRouter({
    oauthMetadata: issuerMetadata,
    resourceServerUrl: resourceUrl,
    scopesSupported: [resourceScope],
    resourceName: 'Toolgate test calendar',
  });
  app.use(metadataRouter);
  app.get('/.well-known/oauth-protected-resource', (req, res) => {
    res.json({
      resource: resourceUrl.href,
      authorization_servers: [issuerMetadata.issuer],
      scopes_supported: [resourceScope],
      resource_name: 'Toolgate test calendar',
    });
  });

  const requireToken = requireBearerAuth({
    verifier: { verifyAccessToken: (token) => introspect(introspection, resourceUrl, token) },
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resourceUrl),
    expectedResource: resourceUrl,
  });

  const calendars = new Map();
  const sessions = new Map();
  app.all('/mcp', requireToken, (req, res) => {
    handleMCP(req, res, { calendars, sessions }).catch((err) => {
      console.error('mcp-protected: request failed:', err);
      if (!res.headersSent) {
        sendRPCError(res, 500, -32603, 'internal error');
      }
    });
  });

  return app;
}

// introspect sends token to the IdP's introspection endpoint and converts the
// response to the SDK's AuthInfo. requireBearerAuth then compares its resource with resourceUrl and
// checks expiresAt.
async function introspect(introspection, resourceUrl, token) {
  const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (introspection.authMethod === 'client_secret_basic') {
    const credentials = `${encodeURIComponent(introspection.clientId)}:${encodeURIComponent(introspection.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    body.set('client_id', introspection.clientId);
    body.set('client_secret', introspection.clientSecret);
  }

  let response;
  try {
    response = await fetch(introspection.endpoint, { method: 'POST', headers, body });
  } catch (err) {
    console.error('mcp-protected: introspection request failed:', err);
    throw new ServerError('token introspection failed');
  }
  if (!response.ok) {
    console.error(`mcp-protected: introspection returned HTTP ${response.status}: ${await response.text()}`);
    throw new ServerError('token introspection failed');
  }

  const info = await response.json();
  if (info.active !== true) {
    throw new InvalidTokenError('token is not active');
  }
  // Refresh tokens introspect as active too, but carry no token_type.
  if (info.token_type !== 'Bearer') {
    throw new InvalidTokenError('token is not a bearer access token');
  }
  if (!info.sub) {
    throw new InvalidTokenError('token has no subject');
  }

  const audiences = [info.aud ?? []].flat();
  return {
    token,
    clientId: info.client_id,
    scopes: info.scope ? info.scope.split(' ') : [],
    expiresAt: info.exp,
    resource: audiences.includes(resourceUrl.href) ? resourceUrl : undefined,
    extra: { sub: info.sub, roles: info.roles ?? [] },
  };
}

async function handleMCP(req, res, { calendars, sessions }) {
  const sub = req.auth.extra.sub;
  const sessionId = req.get('mcp-session-id');

  if (sessionId) {
    const session = sessions.get(sessionId);
    if (!session) {
      console.error(`mcp-protected: session ${sessionId} not found (sub ${sub})`);
      sendRPCError(res, 404, -32001, 'session not found; initialize a new session');
      return;
    }
    if (session.sub !== sub) {
      console.error(`mcp-protected: sub ${sub} used session ${sessionId} of sub ${session.sub}`);
      sendRPCError(res, 403, -32002, 'session belongs to another user');
      return;
    }
    await session.transport.handleRequest(req, res, req.body);
    return;
  }

  if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
    sendRPCError(res, 400, -32000, 'missing mcp-session-id header; send initialize first');
    return;
  }

  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => {
      sessions.set(id, { transport, sub });
    },
  });
  transport.onclose = () => {
    if (transport.sessionId) {
      sessions.delete(transport.sessionId);
    }
  };

  const server = newCalendarServer(calendars);
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
}

// newCalendarServer returns an MCP server for one session. calendars maps a
// user's sub to that user's events and is shared by all sessions. The SDK
// calls a tool that has no inputSchema with the request context alone.
function newCalendarServer(calendars) {
  const server = new McpServer({ name: 'toolgate-test-calendar', version: '1.0.0' });

  server.registerTool('list_events', {
    description: "List the caller's calendar events.",
    annotations: { readOnlyHint: true },
  }, (extra) => {
    const sub = extra.authInfo.extra.sub;
    return jsonResult({ user: sub, events: calendars.get(sub) ?? [] });
  });

  server.registerTool('create_event', {
    description: "Add an event to the caller's calendar.",
    inputSchema: {
      title: z.string().min(1).max(200).describe('Event title'),
      date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe('Event date as YYYY-MM-DD'),
    },
  }, ({ title, date }, extra) => {
    const sub = extra.authInfo.extra.sub;
    if (!calendars.has(sub)) {
      calendars.set(sub, []);
    }
    const events = calendars.get(sub);
    const event = { id: `evt-${events.length + 1}`, title, date };
    events.push(event);
    return jsonResult({ user: sub, event });
  });

  server.registerTool('whoami', {
    description: 'Describe the caller as the access token identifies them.',
    annotations: { readOnlyHint: true },
  }, (extra) => {
    const { authInfo } = extra;
    return jsonResult({
      sub: authInfo.extra.sub,
      roles: authInfo.extra.roles,
      client_id: authInfo.clientId,
      scopes: authInfo.scopes,
    });
  });

  return server;
}

function jsonResult(value) {
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }],
    structuredContent: value,
  };
}

function sendRPCError(res, status, code, message) {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

main().catch((err) => {
  console.error('mcp-protected: start failed:', err);
  process.exit(1);
});
