import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, apiFetch, auth, configContentType, errorText, withToken } from './api';

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
    localStorage.clear();
    auth.setToken('');
  });
  afterEach(() => vi.unstubAllGlobals());

  it('returns the JSON body', async () => {
    const fetchMock = respond(200, { items: [], total: 0 });
    vi.stubGlobal('fetch', fetchMock);
    await expect(apiFetch('/api/v1/experiments')).resolves.toEqual({ items: [], total: 0 });
    const [, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined();
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

  it('asks for a token on 401, then sends it as a bearer header', async () => {
    vi.stubGlobal('fetch', respond(401, { detail: 'missing or wrong bearer token' }));
    const seen: boolean[] = [];
    const unsubscribe = auth.subscribe(() => seen.push(auth.tokenNeeded));
    await expect(apiFetch('/api/v1/experiments')).rejects.toMatchObject({ status: 401 });
    expect(auth.tokenNeeded).toBe(true);
    auth.setToken('s3cret');
    expect(auth.tokenNeeded).toBe(false);
    expect(localStorage.getItem('vlmhb.token')).toBe('s3cret');
    expect(seen).toEqual([true, false]);
    unsubscribe();
    const fetchMock = respond(200, {});
    vi.stubGlobal('fetch', fetchMock);
    await apiFetch('/api/v1/experiments');
    const [, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer s3cret');
    expect(withToken('/api/v1/artifacts/a.html')).toBe('/api/v1/artifacts/a.html?access_token=s3cret');
    expect(withToken('/img?sample_id=1')).toBe('/img?sample_id=1&access_token=s3cret');
  });

  it('picks the config content type', () => {
    expect(configContentType('name: x\n')).toBe('application/yaml');
    expect(configContentType('  {"name": "x"}')).toBe('application/json');
  });
});
