import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, apiFetch, auth, configContentType, csrfToken, errorText, login, wsUrl } from './api';

function respond(status: number, body: unknown, contentType = 'application/json') {
  return vi.fn(async () =>
    new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': contentType },
    }),
  );
}

describe('apiFetch', () => {
  beforeEach(() => {
    auth.loggedIn();
    document.cookie = 'vlmhb_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
  });
  afterEach(() => vi.unstubAllGlobals());

  it('returns the JSON body; the session cookie goes along, no token in headers', async () => {
    const fetchMock = respond(200, { items: [], total: 0 });
    vi.stubGlobal('fetch', fetchMock);
    await expect(apiFetch('/api/v1/experiments')).resolves.toEqual({ items: [], total: 0 });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/experiments');
    expect(init.credentials).toBe('same-origin');
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined();
    expect(localStorage.length).toBe(0);
  });

  it('echoes the CSRF cookie on changing calls only', async () => {
    document.cookie = 'vlmhb_csrf=abc%2D123; path=/';
    expect(csrfToken()).toBe('abc-123');
    const fetchMock = respond(200, {});
    vi.stubGlobal('fetch', fetchMock);
    await apiFetch('/api/v1/experiments/x/cancel', { method: 'POST' });
    await apiFetch('/api/v1/experiments');
    const calls = fetchMock.mock.calls as unknown as [string, RequestInit][];
    expect((calls[0][1].headers as Record<string, string>)['X-VLMHB-CSRF']).toBe('abc-123');
    expect((calls[1][1].headers as Record<string, string>)['X-VLMHB-CSRF']).toBeUndefined();
  });

  it('throws ApiError with the detail verbatim (422 names file:line and field)', async () => {
    const detail = "/x/experiment.yaml:1: field 'datasets': Field required (and 1 more problem(s))";
    vi.stubGlobal('fetch', respond(422, { detail }));
    const error = (await apiFetch('/api/v1/experiments', { method: 'POST', body: 'x' }).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.message).toBe(detail);
  });

  it('formats FastAPI validation lists and plain-text errors', async () => {
    expect(errorText({ detail: [{ loc: ['query', 'limit'], msg: 'too big' }] }, 'x')).toBe('query.limit: too big');
    vi.stubGlobal('fetch', respond(502, 'Bad gateway from proxy', 'text/plain'));
    await expect(apiFetch('/api/v1/health')).rejects.toThrow('Bad gateway from proxy');
  });

  it('reports an unreachable server as status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    await expect(apiFetch('/api/v1/health')).rejects.toMatchObject({ status: 0 });
  });

  it('asks for a login on 401, then logs in with JSON (no token kept)', async () => {
    vi.stubGlobal('fetch', respond(401, { detail: 'missing or wrong token' }));
    const seen: boolean[] = [];
    const unsubscribe = auth.subscribe(() => seen.push(auth.tokenNeeded));
    await expect(apiFetch('/api/v1/experiments')).rejects.toMatchObject({ status: 401 });
    expect(auth.tokenNeeded).toBe(true);
    // a wrong token keeps the prompt
    await expect(login('wrong')).rejects.toMatchObject({ status: 401 });
    expect(auth.tokenNeeded).toBe(true);
    const fetchMock = vi.fn(async () => new Response(null, { status: 204 }));
    vi.stubGlobal('fetch', fetchMock);
    await login('s3cret-token-0123456789');
    expect(auth.tokenNeeded).toBe(false);
    expect(seen).toEqual([true, false]);
    unsubscribe();
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/auth/login');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(JSON.parse(init.body as string)).toEqual({ token: 's3cret-token-0123456789' });
    expect(init.credentials).toBe('same-origin');
    expect(localStorage.length).toBe(0);
    expect(document.cookie).not.toContain('s3cret');
  });

  it('builds WebSocket URLs without query tokens', () => {
    expect(wsUrl('abc', 0)).toBe(`ws://${window.location.host}/api/v1/ws/abc`);
    expect(wsUrl('abc', 7)).toBe(`ws://${window.location.host}/api/v1/ws/abc?since=7`);
    expect(wsUrl('abc', 7)).not.toContain('access_token');
  });

  it('picks the config content type', () => {
    expect(configContentType('name: x\n')).toBe('application/yaml');
    expect(configContentType('  {"name": "x"}')).toBe('application/json');
  });
});
