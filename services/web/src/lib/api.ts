// The API client: JSON fetch with bearer token, errors carrying the API's own message.

const TOKEN_KEY = 'vlmhb.token';
export const API = '/api/v1';

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

/** Token storage (localStorage) and the "a token is needed" flag the UI listens to. */
class AuthStore {
  private listeners = new Set<Listener>();
  private needed = false;

  get token(): string {
    try {
      return localStorage.getItem(TOKEN_KEY) ?? '';
    } catch {
      return '';
    }
  }

  setToken(token: string): void {
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      /* storage disabled: the token lives for this page only */
    }
    this.needed = false;
    this.emit();
  }

  get tokenNeeded(): boolean {
    return this.needed;
  }

  requireToken(): void {
    if (!this.needed) {
      this.needed = true;
      this.emit();
    }
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

/** Call the API; JSON answer on success, ``ApiError`` otherwise (401 asks for a token). */
export async function apiFetch<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = auth.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.contentType) headers['Content-Type'] = options.contentType;
  let response: Response;
  try {
    response = await fetch(path.startsWith('/') ? path : `${API}/${path}`, {
      method: options.method ?? 'GET',
      headers,
      body: options.body,
      signal: options.signal,
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

/** A URL for <img>/<a> (no headers there): adds ``access_token`` when a token is set. */
export function withToken(url: string): string {
  const token = auth.token;
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}

/** The WebSocket URL of an experiment's live events. */
export function wsUrl(experimentId: string, since: number): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams();
  if (since > 0) params.set('since', String(since));
  if (auth.token) params.set('access_token', auth.token);
  const query = params.toString();
  return `${proto}//${window.location.host}${API}/ws/${encodeURIComponent(experimentId)}${query ? `?${query}` : ''}`;
}

/** Content type for a pasted config: JSON when it looks like JSON, YAML otherwise. */
export function configContentType(text: string): string {
  return text.trimStart().startsWith('{') ? 'application/json' : 'application/yaml';
}
