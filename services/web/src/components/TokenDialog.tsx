import { useState, useSyncExternalStore } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { auth, login } from '../lib/api';

/** Shown when the API answers 401: exchanges the server's token for a session cookie. */
export function TokenDialog() {
  const needed = useSyncExternalStore(auth.subscribe, () => auth.tokenNeeded);
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const client = useQueryClient();
  if (!needed) return null;
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          login(value.trim())
            .then(() => {
              setValue('');
              setError('');
              void client.invalidateQueries();
            })
            .catch((exc: Error) => setError(exc.message))
            .finally(() => setBusy(false));
        }}
      >
        <h2>Log in</h2>
        <p>
          Open the URL <code>vlmhb serve</code> printed (it carries the token), or paste the
          token here: <code>VLMHB_AUTH_TOKEN</code>, or the file <code>auth_token</code> in the
          server&apos;s data folder.
        </p>
        <input
          type="password"
          autoFocus
          placeholder="token"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-label="API token"
        />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row-actions">
          <button type="submit" className="primary" disabled={!value.trim() || busy}>
            Log in
          </button>
        </div>
        <p className="hint">
          The server answers with an HttpOnly session cookie; this page never stores the token.
        </p>
      </form>
    </div>
  );
}
