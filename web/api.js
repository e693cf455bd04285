// The API client. The token lives in sessionStorage only (gone when the
// tab closes; never in a URL, a cookie or persistent storage) and goes out as
// "Authorization: Bearer" on every data call to the same origin.

const KEY = "hostlocator.token";

export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  set(token) { sessionStorage.setItem(KEY, token); },
  clear() { sessionStorage.removeItem(KEY); },
  roles: [],
  name: "",
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// fetch() of /api/v1 + path with the token; throws ApiError with the
// server's message on an error status.
export async function call(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (session.token) headers.set("Authorization", "Bearer " + session.token);
  let response;
  try {
    response = await fetch("/api/v1" + path, {
      ...options, headers, cache: "no-store", credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new ApiError(0, "the coordinator does not answer (" + e.message + ")");
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error || message;
    } catch {
      // not JSON
    }
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent("hl-unauthorized"));
    }
    throw new ApiError(response.status, message);
  }
  return response;
}

export async function json(path, options) {
  return (await call(path, options)).json();
}

// Fetches `path` with the token and saves the answer as `filename` through
// a Blob and a download link: nothing is shown inside the UI.
export async function download(path, filename) {
  const response = await call(path);
  const blob = await response.blob();
  saveBlob(blob, filename);
  return response;
}

export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  }
  const text = q.toString();
  return text ? "?" + text : "";
}
