// Login and consent pages for the test IdP, written against oidc-provider's
// interaction API (interactionDetails, interactionFinished and the Grant
// model).
//
// The pages are plain HTML with no scripts and no external resources, so a
// test can drive them with an HTTP client or a headless browser. Element ids
// are part of the contract with the Go harness and with browser tests:
//
//   login page:   input#username, input#password, button#login
//   consent page: button#approve, button#deny (one form, field "decision")
//
// A rejected login returns status 401 and the login form again. Deny finishes the
// interaction with error=access_denied, which oidc-provider sends to the
// client's redirect_uri.

const maxFormBytes = 64 * 1024;

// handleInteraction serves /interaction/<uid>[/login|/consent]. It returns
// false when the path is not an interaction path.
export async function handleInteraction(provider, accounts, req, res, url) {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|consent))?$/.exec(url.pathname);
  if (!match) {
    return false;
  }
  const [, uid, step] = match;

  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) {
      sendPage(res, 400, 'Interaction mismatch', '<p>This page does not belong to the current sign-in. Start again from the application.</p>');
      return true;
    }

    if (req.method === 'GET' && step === undefined) {
      await showPrompt(res, details);
    } else if (req.method === 'POST' && step === 'login') {
      await submitLogin(provider, accounts, req, res, details);
    } else if (req.method === 'POST' && step === 'consent') {
      await submitConsent(provider, req, res, details);
    } else {
      sendPage(res, 405, 'Method not allowed', `<p>${escapeHtml(req.method)} is not allowed here.</p>`);
    }
  } catch (err) {
    // SessionNotFound means the interaction cookie is missing or expired.
    console.error(`idp: interaction ${uid} failed: ${err.name}: ${err.message}`);
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    sendPage(res, status, 'Sign-in failed', `<p>${escapeHtml(err.message)}</p><p>Start again from the application.</p>`);
  }
  return true;
}

async function showPrompt(res, details) {
  switch (details.prompt.name) {
    case 'login':
      sendLoginPage(res, 200, details, details.params.login_hint ?? '', '');
      return;
    case 'consent':
      sendConsentPage(res, details);
      return;
    default:
      sendPage(res, 400, 'Unsupported prompt', `<p>This provider has no page for the prompt ${escapeHtml(details.prompt.name)}.</p>`);
  }
}

async function submitLogin(provider, accounts, req, res, details) {
  if (details.prompt.name !== 'login') {
    sendPage(res, 400, 'Unexpected login', '<p>This sign-in does not ask for a login now.</p>');
    return;
  }

  const form = await readForm(req);
  const username = form.get('username') ?? '';
  const account = accounts.get(username);
  if (!account || account.password !== (form.get('password') ?? '')) {
    console.error(`idp: interaction ${details.uid}: login rejected for username ${JSON.stringify(username)}`);
    sendLoginPage(res, 401, details, username, 'Invalid username or password.');
    return;
  }

  await provider.interactionFinished(req, res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
}

async function submitConsent(provider, req, res, details) {
  if (details.prompt.name !== 'consent') {
    sendPage(res, 400, 'Unexpected consent', '<p>This sign-in does not ask for consent now.</p>');
    return;
  }

  const form = await readForm(req);
  const decision = form.get('decision');
  if (decision === 'deny') {
    const result = { error: 'access_denied', error_description: 'the user denied the authorization request' };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  if (decision !== 'approve') {
    sendPage(res, 400, 'Missing decision', '<p>The form must send decision=approve or decision=deny.</p>');
    return;
  }

  const grantId = await grantRequested(provider, details);
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

// grantRequested adds what the consent prompt reported as missing to the
// existing grant, or to a new one, and saves it.
async function grantRequested(provider, details) {
  const { prompt, params, session } = details;

  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  }
  if (!grant) {
    grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  }

  const missing = prompt.details;
  if (missing.missingOIDCScope) {
    grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  }
  if (missing.missingOIDCClaims) {
    grant.addOIDCClaims(missing.missingOIDCClaims);
  }
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }

  return grant.save();
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > maxFormBytes) {
      throw Object.assign(new Error(`form body exceeds ${maxFormBytes} bytes`), { statusCode: 413 });
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendLoginPage(res, status, details, username, message) {
  const error = message ? `<p id="error" role="alert">${escapeHtml(message)}</p>` : '';
  sendPage(res, status, 'Sign in', `
<p>Sign in to continue to <strong>${escapeHtml(details.params.client_id)}</strong>.</p>
${error}
<form method="post" action="/interaction/${details.uid}/login">
  <p><label for="username">Username</label>
  <input id="username" name="username" type="text" autocomplete="username" value="${escapeHtml(username)}" required autofocus></p>
  <p><label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required></p>
  <p><button id="login" type="submit">Sign in</button></p>
</form>`);
}

function sendConsentPage(res, details) {
  const { params, prompt } = details;
  const scopes = String(params.scope ?? '').split(' ').filter(Boolean);
  const resources = Object.keys(prompt.details.missingResourceScopes ?? {});
  const scopeItems = scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('');
  const resourceItems = resources.map((resource) => `<li>${escapeHtml(resource)}</li>`).join('');

  sendPage(res, 200, 'Authorize access', `
<p><strong>${escapeHtml(params.client_id)}</strong> requests access to your account.</p>
<p>Scopes:</p>
<ul id="scopes">${scopeItems}</ul>
${resources.length ? `<p>Resources:</p><ul id="resources">${resourceItems}</ul>` : ''}
<form method="post" action="/interaction/${details.uid}/consent">
  <button id="approve" type="submit" name="decision" value="approve">Allow</button>
  <button id="deny" type="submit" name="decision" value="deny">Deny</button>
</form>`);
}

// sendPage writes a complete HTML document. body must already be escaped.
export function sendPage(res, status, title, body) {
  const html = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

export function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
