import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { DeleteExperiment, deleteUrl, deletedText } from './DeleteExperiment';
import { auth } from '../lib/api';
import type { DeleteResult } from '../lib/types';

const ACTIVE = "experiment e1 is RUNNING: cancel it first";

function setup(status: number) {
  const urls: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      urls.push(`${init.method} ${url}`);
      const body: DeleteResult | { detail: string } =
        status === 200 ? { id: 'e1', deleted: true, artifacts_deleted: url.endsWith('true'), detail: '' } : { detail: ACTIVE };
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    }),
  );
  const deleted = vi.fn();
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <DeleteExperiment experiment={{ id: 'e1', name: 'demo' }} onDeleted={deleted} />
    </QueryClientProvider>,
  );
  fireEvent.click(screen.getByRole('button', { name: 'Delete demo' }));
  return { urls, deleted };
}

describe('delete an experiment', () => {
  beforeEach(() => auth.loggedIn());
  afterEach(() => vi.unstubAllGlobals());

  it('asks first, and deletes the run files only when ticked', async () => {
    const { urls, deleted } = setup(200);
    expect(screen.getByRole('dialog', { name: 'Delete experiment' })).toHaveTextContent('runs/demo');
    fireEvent.click(screen.getByLabelText('also delete its run files'));
    fireEvent.click(screen.getByRole('button', { name: 'Delete with its files' }));
    await vi.waitFor(() => expect(deleted).toHaveBeenCalledOnce());
    expect(urls).toEqual([`DELETE ${deleteUrl('e1', true)}`]);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(deletedText('demo', deleted.mock.calls[0][0])).toBe('Deleted demo (its run files deleted).');
  });

  it("shows the server's refusal of an active experiment and keeps the dialog", async () => {
    const { urls, deleted } = setup(409);
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(ACTIVE);
    expect(urls).toEqual([`DELETE ${deleteUrl('e1', false)}`]);
    expect(deleted).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Keep it' }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});
