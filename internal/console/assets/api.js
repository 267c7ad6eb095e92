// The REST API client. Every path is relative to the console's own
// location (the shell is served at <prefix>/ui/, the API at <prefix>/v1/),
// so the console works behind a path prefix unchanged, wherever the assets
// themselves are served from (assets/VERSION/ or assets/).
// Credentials are whatever the browser and any proxy in front add: a
// client certificate, or an Authorization header set by an authenticating
// proxy. The console stores no token and sets no cookie.
const root = new URL('../', document.baseURI);

// gRPC code names, by number, as google.rpc.Status carries them.
export const codeNames = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND',
  'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

// What each code means to a person.
const codeWords = {
  CANCELLED: 'Cancelled',
  UNKNOWN: 'Unknown error',
  INVALID_ARGUMENT: 'The request is not valid',
  DEADLINE_EXCEEDED: 'Timed out',
  NOT_FOUND: 'Not found',
  ALREADY_EXISTS: 'Already exists',
  PERMISSION_DENIED: 'Forbidden: you are not allowed to do this',
  RESOURCE_EXHAUSTED: 'Too many requests: try again shortly',
  FAILED_PRECONDITION: 'Not possible in the current state',
  ABORTED: 'Aborted by a concurrent change',
  OUT_OF_RANGE: 'Out of range',
  UNIMPLEMENTED: 'Not available on this server',
  INTERNAL: 'Internal server error',
  UNAVAILABLE: 'Service unavailable: try again shortly',
  DATA_LOSS: 'Data loss',
  UNAUTHENTICATED: 'Not signed in: present a client certificate or sign in through your portal',
};

export function codeName(code) {
  if (typeof code === 'string') return code;
  return codeNames[code] || `code ${code}`;
}

export function codeInWords(code) {
  const name = codeName(code);
  return codeWords[name] || name;
}

// APIError is a refused or failed request: the HTTP status, the gRPC code
// and message, and the field violations of an INVALID_ARGUMENT.
export class APIError extends Error {
  constructor(httpStatus, body) {
    const code = body && body.code !== undefined ? codeName(body.code) : 'UNKNOWN';
    super((body && body.message) || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.code = code;
    this.violations = [];
    for (const d of (body && body.details) || []) {
      for (const v of d.field_violations || d.fieldViolations || []) {
        this.violations.push({ field: v.field || '', reason: v.reason || '', description: v.description || '' });
      }
    }
  }

  // words is the whole refusal as a sentence: what it means, the HTTP
  // status and code, and the server's own message.
  get words() {
    return `${codeInWords(this.code)} (HTTP ${this.httpStatus}, ${this.code}): ${this.message}`;
  }
}

// call sends one request and answers its JSON, or throws an APIError.
export async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(new URL(path, root), init);
  } catch (e) {
    throw new APIError(0, { code: 14, message: `the server could not be reached (${e.message})` });
  }
  const text = await res.text();
  let json = {};
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = { code: res.ok ? 13 : httpToCode(res.status), message: text.trim().slice(0, 300) };
    }
  }
  if (!res.ok) throw new APIError(res.status, json);
  return json;
}

function httpToCode(status) {
  return { 400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 501: 12, 503: 14 }[status] || 2;
}

// seg percent-encodes a secret id for one path segment, "/" and ":"
// included, as the API asks.
export function seg(s) {
  return encodeURIComponent(s);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
