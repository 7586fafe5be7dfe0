// Calls Toolgate's JSON API. Failed calls throw an ApiError built from the
// problem+json body (RFC 9457), so that pages can show its detail.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `request failed with status ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code || "";
    this.detail = problem.detail || "";
    this.fields = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

let meRequest = null;

// me returns the signed-in user from GET /api/v1/me, fetched once per
// page.
export function me() {
  meRequest ??= request("GET", "/api/v1/me").catch((err) => {
    meRequest = null;
    throw err;
  });
  return meRequest;
}

// csrfToken returns the session's CSRF token. Same-origin requests pass
// the server's CSRF check without it, but a proxy may strip the Origin
// and Sec-Fetch-Site headers that show it, so every change sends it too.
async function csrfToken() {
  try {
    return (await me()).csrf_token || "";
  } catch {
    return "";
  }
}

// request sends one API request with an optional JSON body and returns
// the parsed JSON response, or null for 204.
export async function request(method, path, body, { signal } = {}) {
  const res = await send(method, path, body, { signal, accept: "application/json" });
  if (res.status === 204) {
    return null;
  }
  return res.json();
}

// send sends one API request and returns the Response when its status is
// 2xx. It throws an ApiError otherwise, and for network failures, except
// that an aborted request throws the abort reason.
export async function send(method, path, body, { signal, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (method !== "GET" && method !== "HEAD" && path !== "/api/v1/me") {
    const token = await csrfToken();
    if (token) {
      headers["X-CSRF-Token"] = token;
    }
  }
  const init = { method, headers, credentials: "same-origin", signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }

  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    // An aborted request rejects with the abort reason, which is an
    // AbortError unless the caller gave another.
    if (err.name === "AbortError" || signal?.aborted) {
      throw err;
    }
    throw new ApiError(0, {
      code: "network_error",
      detail: "Toolgate could not be reached. Check your network connection, then try again.",
    });
  }
  if (!res.ok) {
    throw await problemOf(res);
  }
  return res;
}

// problemOf reads the problem+json body of a failed response.
export async function problemOf(res) {
  let problem = {};
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      problem = await res.json();
    } catch {
      problem = {};
    }
  }
  if (!problem.detail) {
    problem.detail = `The server answered with status ${res.status} and no explanation. Try again; if it keeps happening, tell your administrator.`;
  }
  return new ApiError(res.status, problem);
}

// signInURL returns the sign-in page that brings the browser back here.
export function signInURL() {
  return "/auth/login?return_to=" + encodeURIComponent(location.pathname + location.search);
}
