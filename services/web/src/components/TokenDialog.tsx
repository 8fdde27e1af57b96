import { useState, useSyncExternalStore } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { auth } from '../lib/api';

/** Shown when the API answers 401: asks for the bearer token (kept in localStorage). */
export function TokenDialog() {
  const needed = useSyncExternalStore(auth.subscribe, () => auth.tokenNeeded);
  const [value, setValue] = useState('');
  const client = useQueryClient();
  if (!needed) return null;
  const hadToken = Boolean(auth.token);
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        onSubmit={(e) => {
          e.preventDefault();
          auth.setToken(value.trim());
          setValue('');
          void client.invalidateQueries();
        }}
      >
        <h2>API token needed</h2>
        <p>
          {hadToken
            ? 'The server refused the stored token. Enter the current one.'
            : 'This server is protected by VLMHB_AUTH_TOKEN. Enter the token to continue.'}
        </p>
        <input
          type="password"
          autoFocus
          placeholder="bearer token"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-label="API token"
        />
        <div className="row-actions">
          <button type="submit" className="primary" disabled={!value.trim()}>
            Save token
          </button>
        </div>
        <p className="hint">Stored in this browser (localStorage) and sent as Authorization: Bearer.</p>
      </form>
    </div>
  );
}
