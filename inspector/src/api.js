// The Agent Protocol over fetch: JSON requests, SSE streams, and the user's credentials (when auth is on).

const STORAGE_KEY = "aegra-inspector-credentials";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

/** The server's base URL: everything before `/inspector` in the page's address (works behind a path prefix). */
export function apiBase() {
  const path = window.location.pathname;
  const at = path.lastIndexOf("/inspector");
  return window.location.origin + (at >= 0 ? path.slice(0, at) : "");
}

/** Credentials live in sessionStorage: gone when the tab closes. */
export const credentials = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    } catch {
      return null;
    }
  },
  save(header, value) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ header, value }));
  },
  clear() {
    sessionStorage.removeItem(STORAGE_KEY);
  },
  headers() {
    const saved = this.load();
    return saved?.header && saved?.value ? { [saved.header]: saved.value } : {};
  },
};

const listeners = { unauthorized: [] };

/** `fn(error)` runs whenever the server answers 401 (the page then asks for a token). */
export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

async function failure(response) {
  const text = await response.text();
  let detail = text || response.statusText;
  try {
    detail = JSON.parse(text).detail ?? detail;
  } catch {
    // not JSON: keep the text
  }
  const error = new ApiError(response.status, `${response.status}: ${detail}`);
  if (response.status === 401) listeners.unauthorized.forEach((fn) => fn(error));
  return error;
}

function headersFor(body) {
  const headers = { ...credentials.headers() };
  if (body !== undefined) headers["content-type"] = "application/json";
  return headers;
}

/** One JSON request; throws ApiError with the server's `detail` on a non-2xx answer. */
export async function request(method, path, body, { signal } = {}) {
  const response = await fetch(apiBase() + path, {
    method,
    headers: headersFor(body),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}

/** POST `body` to a streaming endpoint (GET without one) and yield its server-sent events as `{event, data}`. */
export async function* stream(path, body, { signal } = {}) {
  const response = await fetch(apiBase() + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { ...headersFor(body), accept: "text/event-stream" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer = (buffer + value).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const parsed = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) yield parsed;
    }
  }
}
