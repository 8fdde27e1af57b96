// The API client: JSON fetch with the browser's session cookie (same-origin only), errors
// carrying the API's own message. The token is never stored by the UI: the server
// exchanges it for an HttpOnly cookie (POST /api/v1/auth/login, or the /?token= link).

export const API = '/api/v1';
export const CSRF_COOKIE = 'vlmhb_csrf';
export const CSRF_HEADER = 'X-VLMHB-CSRF';

/** An HTTP error of the API; ``message`` is the API's ``detail`` verbatim. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

type Listener = () => void;

/** The "a login is needed" flag the UI listens to (set by a 401, cleared by a login). */
class AuthStore {
  private listeners = new Set<Listener>();
  private needed = false;

  get tokenNeeded(): boolean {
    return this.needed;
  }

  requireToken(): void {
    if (!this.needed) {
      this.needed = true;
      this.emit();
    }
  }

  loggedIn(): void {
    this.needed = false;
    this.emit();
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

export const auth = new AuthStore();

/** The CSRF cookie's value (readable on purpose; echoed in ``X-VLMHB-CSRF``). */
export function csrfToken(): string {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return '';
}

/** The text of an error body: FastAPI's ``detail`` (string, validation list or object). */
export function errorText(body: unknown, fallback: string): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d) => {
          if (d && typeof d === 'object' && 'msg' in d) {
            const loc = Array.isArray((d as { loc?: unknown[] }).loc)
              ? (d as { loc: unknown[] }).loc.join('.')
              : '';
            return loc ? `${loc}: ${(d as { msg: string }).msg}` : (d as { msg: string }).msg;
          }
          return JSON.stringify(d);
        })
        .join('\n');
    }
    return JSON.stringify(detail);
  }
  if (typeof body === 'string' && body.trim()) return body.trim();
  return fallback;
}

export interface RequestOptions {
  method?: string;
  body?: BodyInit | null;
  contentType?: string;
  signal?: AbortSignal;
}

/** Call the API; JSON answer on success, ``ApiError`` otherwise (401 asks for a login).
 * The session cookie goes along (same origin only); changing calls echo the CSRF cookie. */
export async function apiFetch<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.contentType) headers['Content-Type'] = options.contentType;
  const csrf = method === 'GET' || method === 'HEAD' ? '' : csrfToken();
  if (csrf) headers[CSRF_HEADER] = csrf;
  let response: Response;
  try {
    response = await fetch(path.startsWith('/') ? path : `${API}/${path}`, {
      method,
      headers,
      body: options.body,
      signal: options.signal,
      credentials: 'same-origin',
    });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === 'AbortError') throw exc;
    throw new ApiError(0, `cannot reach the server: ${(exc as Error).message}`);
  }
  const text = await response.text();
  let body: unknown = text;
  if (text && (response.headers.get('content-type') ?? '').includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      /* keep the text */
    }
  }
  if (!response.ok) {
    if (response.status === 401) auth.requireToken();
    throw new ApiError(
      response.status,
      errorText(body, `${response.status} ${response.statusText || 'error'}`),
    );
  }
  return body as T;
}

/** Log in: the server answers with the HttpOnly session cookie (the token is not kept). */
export async function login(token: string): Promise<void> {
  await apiFetch<unknown>(`${API}/auth/login`, {
    method: 'POST',
    body: JSON.stringify({ token }),
    contentType: 'application/json',
  });
  auth.loggedIn();
}

/** The WebSocket URL of an experiment's live events (the session cookie authenticates it). */
export function wsUrl(experimentId: string, since: number): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = since > 0 ? `?since=${since}` : '';
  return `${proto}//${window.location.host}${API}/ws/${encodeURIComponent(experimentId)}${query}`;
}

/** Content type for a pasted config: JSON when it looks like JSON, YAML otherwise. */
export function configContentType(text: string): string {
  return text.trimStart().startsWith('{') ? 'application/json' : 'application/yaml';
}
