// The one HTTP client of the console: same-origin fetch with the session cookies, JSON bodies,
// ETag revalidation for polled reads, and one refresh of the session on a 401 before giving up.

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfter: number | null;

  constructor(status: number, message: string, body: unknown = null, retryAfter: number | null = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export type Query = Record<string, string | number | boolean | null | undefined | readonly string[]>;

/** `path?query` with repeated keys for arrays and empty values left out. */
export function url(path: string, query?: Query | URLSearchParams): string {
  const params = query instanceof URLSearchParams ? query : new URLSearchParams();
  if (query && !(query instanceof URLSearchParams)) {
    for (const [key, value] of Object.entries(query)) {
      if (value === null || value === undefined || value === "") continue;
      if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
      else params.append(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

let onSessionLost: () => void = () => {};
let refreshing: Promise<boolean> | null = null;

/** Called once the session is gone for good (a 401 survived a refresh): back to the login page. */
export function setSessionLostHandler(handler: () => void): void {
  onSessionLost = handler;
}

async function refreshSession(): Promise<boolean> {
  // Concurrent 401s share one refresh: the refresh token is single-use.
  refreshing ??= fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
    cache: "no-store",
  })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => setTimeout(() => (refreshing = null), 0));
  return refreshing;
}

function reasonOf(body: unknown, status: number): string {
  if (body && typeof body === "object") {
    const b = body as { error?: string; errors?: { field: string; message: string }[] };
    if (b.error) {
      const details = (b.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
      return details ? `${b.error} (${details})` : b.error;
    }
  }
  return `HTTP ${status}`;
}

async function parse(response: Response): Promise<unknown> {
  const type = response.headers.get("content-type") ?? "";
  if (response.status === 204 || !type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Answers with these statuses are data, not errors (e.g. /health's 503 with its report). */
  okStatuses?: number[];
  /** Do not try a refresh on 401 (the auth endpoints themselves). */
  noRefresh?: boolean;
}

interface Cached {
  etag: string;
  body: unknown;
}
const cache = new Map<string, Cached>();
const CACHE_LIMIT = 200;

/**
 * Send a request; resolve with the parsed JSON body. A GET revalidates with the ETag of the last
 * answer to the same URL and resolves with the very same object on 304, so callers can skip work
 * when `result === previous`.
 */
export async function api<T>(target: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? "GET";
  const send = (): Promise<Response> => {
    const headers: Record<string, string> = { Accept: "application/json" };
    const held = method === "GET" ? cache.get(target) : undefined;
    if (held) headers["If-None-Match"] = held.etag;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(target, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: "no-store", // the ETags are handled here, where a 304 can be seen
      credentials: "same-origin",
    });
  };
  let response = await send();
  if (response.status === 401 && !options.noRefresh) {
    if (await refreshSession()) response = await send();
    if (response.status === 401) {
      onSessionLost();
      throw new ApiError(401, "your session has ended; log in again");
    }
  }
  if (response.status === 304) {
    const held = cache.get(target);
    if (held) return held.body as T;
    cache.delete(target);
    return api<T>(target, options);
  }
  const body = await parse(response);
  if (!response.ok && !(options.okStatuses ?? []).includes(response.status)) {
    const retry = Number(response.headers.get("retry-after"));
    throw new ApiError(response.status, reasonOf(body, response.status), body, retry > 0 ? retry : null);
  }
  const etag = response.headers.get("etag");
  if (method === "GET" && etag) {
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(target, { etag, body });
  }
  return body as T;
}

export function forgetCache(): void {
  cache.clear();
}

export const post = <T>(target: string, body?: unknown, options: RequestOptions = {}): Promise<T> =>
  api<T>(target, { ...options, method: "POST", body: body ?? {} });
