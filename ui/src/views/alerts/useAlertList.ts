// The live alert list: the first rows (as many as are loaded, up to LIVE_MAX) are polled every
// POLL_MS with their ETag; rows past them are loaded by keyset cursor as the user scrolls.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError } from "../../api/client";
import type { Alert, AlertPage } from "../../api/types";

export const POLL_MS = 2000;
const FIRST = 100; // rows of the first page
const PAGE = 200; // rows of each further page
const LIVE_MAX = 500; // rows kept live by polling; further pages are refreshed when the filter changes

export interface AlertList {
  rows: Alert[];
  total: number | null;
  totalExact: boolean;
  hasMore: boolean;
  loading: boolean;
  loadingMore: boolean;
  error: string | null;
  updatedAt: number | null;
  loadMore: () => void;
  refresh: () => void;
}

interface State {
  query: string;
  head: AlertPage | null;
  tail: Alert[];
  tailCursor: string | null;
  error: string | null;
  updatedAt: number | null;
}

const NONE: Alert[] = [];
const empty = (query: string): State => ({ query, head: null, tail: [], tailCursor: null, error: null, updatedAt: null });

export function useAlertList(query: string): AlertList {
  const [state, setState] = useState<State>(() => empty(query));
  const [loadingMore, setLoadingMore] = useState(false);
  const stateRef = useRef(state);
  stateRef.current = state;
  const wakeRef = useRef<() => void>(() => {});

  useEffect(() => {
    setState(empty(query));
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let busy = false;
    let failures = 0;

    const poll = async () => {
      if (stopped || busy) return;
      busy = true;
      clearTimeout(timer);
      let delay = POLL_MS;
      const s = stateRef.current;
      const loaded = s.query === query ? (s.head?.alerts.length ?? 0) + s.tail.length : 0;
      const limit = Math.max(FIRST, Math.min(LIVE_MAX, loaded));
      const sep = query ? "&" : "";
      try {
        const page = await api<AlertPage>(`/api/v1/alerts?${query}${sep}limit=${limit}`);
        failures = 0;
        if (!stopped) {
          setState((prev) => {
            if (prev.query !== query) return prev;
            if (prev.head === page && !prev.error) return prev; // 304: nothing changed
            const ids = new Set(page.alerts.map((a) => a.alert_id));
            const tail = prev.tail.filter((a) => !ids.has(a.alert_id));
            return { ...prev, head: page, tail, error: null, updatedAt: Date.now() };
          });
        }
      } catch (err) {
        failures += 1;
        const retry = err instanceof ApiError && err.retryAfter ? err.retryAfter * 1000 : 0;
        delay = Math.max(retry, Math.min(30_000, POLL_MS * 2 ** failures));
        if (!stopped) setState((prev) => (prev.query === query ? { ...prev, error: (err as Error).message } : prev));
      } finally {
        busy = false;
      }
      if (!stopped) timer = setTimeout(() => (document.hidden ? (timer = setTimeout(poll, POLL_MS)) : poll()), delay);
    };
    wakeRef.current = () => void poll();
    void poll();
    const onVisible = () => !document.hidden && void poll();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [query]);

  const loadMore = useCallback(() => {
    const s = stateRef.current;
    const cursor = s.tail.length ? s.tailCursor : (s.head?.next_cursor ?? null);
    if (!cursor || loadingMore || s.query !== query) return;
    setLoadingMore(true);
    const sep = query ? "&" : "";
    api<AlertPage>(`/api/v1/alerts?${query}${sep}limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`)
      .then((page) =>
        setState((prev) => {
          if (prev.query !== query) return prev;
          const seen = new Set([...(prev.head?.alerts ?? []), ...prev.tail].map((a) => a.alert_id));
          const fresh = page.alerts.filter((a) => !seen.has(a.alert_id));
          return { ...prev, tail: [...prev.tail, ...fresh], tailCursor: page.next_cursor ?? null };
        }),
      )
      .catch((err: Error) => setState((prev) => ({ ...prev, error: err.message })))
      .finally(() => setLoadingMore(false));
  }, [query, loadingMore]);

  const refresh = useCallback(() => wakeRef.current(), []);

  const current = state.query === query;
  const head = current ? state.head : null;
  const tail = current ? state.tail : NONE;
  const rows = useMemo(() => (head ? (tail.length ? [...head.alerts, ...tail] : head.alerts) : NONE), [head, tail]);
  return {
    rows,
    total: head?.total ?? null,
    totalExact: head?.total_exact ?? true,
    hasMore: tail.length ? state.tailCursor !== null : Boolean(head?.next_cursor),
    loading: head === null && state.error === null,
    loadingMore,
    error: current ? state.error : null,
    updatedAt: state.updatedAt,
    loadMore,
    refresh,
  };
}
