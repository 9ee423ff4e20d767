// The signed-in user: who it is, what it may do; the login page until there is one.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, ApiError, forgetCache, post, setSessionLostHandler } from "./api/client";
import type { Me } from "./api/types";
import { Login } from "./views/Login";

export interface Session {
  me: Me;
  /** Whether the user holds `permission` (admin implies every one). */
  can: (permission: string) => boolean;
  logout: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside <SessionGate>");
  return session;
}

type State = { kind: "checking" } | { kind: "anonymous"; reason?: string } | { kind: "user"; me: Me };

export function SessionGate({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>({ kind: "checking" });

  useEffect(() => {
    setSessionLostHandler(() => {
      forgetCache();
      setState({ kind: "anonymous", reason: "Your session has ended. Log in again." });
    });
    api<Me>("/api/v1/auth/me")
      .then((me) => setState({ kind: "user", me }))
      .catch((err: unknown) =>
        setState({
          kind: "anonymous",
          reason: err instanceof ApiError && err.status !== 401 ? `The API answered: ${err.message}` : undefined,
        }),
      );
  }, []);

  const logout = useCallback(async () => {
    try {
      await post("/api/v1/auth/logout", {}, { noRefresh: true });
    } finally {
      forgetCache();
      setState({ kind: "anonymous" });
    }
  }, []);

  const session = useMemo<Session | null>(() => {
    if (state.kind !== "user") return null;
    const held = new Set(state.me.permissions);
    return { me: state.me, can: (p) => held.has("admin") || held.has(p), logout };
  }, [state, logout]);

  if (state.kind === "checking") return <div className="splash">Loading…</div>;
  if (!session) {
    return (
      <Login
        notice={state.kind === "anonymous" ? state.reason : undefined}
        onLogin={(me) => setState({ kind: "user", me })}
      />
    );
  }
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}
