// Sign in with a name and password; the API answers with HTTP-only session cookies.
import { useState, type FormEvent } from "react";
import { api, ApiError, post } from "../api/client";
import type { Me } from "../api/types";

export function Login({ onLogin, notice }: { onLogin: (me: Me) => void; notice?: string }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post("/api/v1/auth/login", { name, password, cookies: true }, { noRefresh: true });
      let me: Me;
      try {
        me = await api<Me>("/api/v1/auth/me", { noRefresh: true });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) throw err;
        const plain = window.location.protocol === "http:";
        setError(
          "Logged in, but the browser did not keep the session cookie." +
            (plain ? " Over plain HTTP the API must run with EMS_COOKIE_SECURE=false (or use HTTPS)." : ""),
        );
        return;
      }
      onLogin(me);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError("Wrong name or password.");
      else if (err instanceof ApiError && err.status === 429)
        setError(`Too many attempts; try again in ${err.retryAfter ?? 60} s.`);
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form onSubmit={submit} className="login-box" aria-label="Log in">
        <h1>EMS console</h1>
        {notice && <p className="notice">{notice}</p>}
        <label>
          Name
          <input name="name" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} required autoFocus />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
