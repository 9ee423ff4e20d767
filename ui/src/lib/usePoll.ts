// Polling a read with ETags: a 304 hands back the same object, so an unchanged answer renders nothing.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError, type RequestOptions } from "../api/client";

export interface Polled<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload: () => void;
}

/** GET `target` now and every `intervalMs` while the page is visible (null: nothing to fetch; 0: once).
 * Errors back off (the server's Retry-After, else doubling up to 30 s) and keep the last data. */
export function usePoll<T>(target: string | null, intervalMs: number, options: RequestOptions = {}): Polled<T> {
  const [state, setState] = useState<{ target: string | null; data: T | null; error: Error | null }>({
    target: null,
    data: null,
    error: null,
  });
  const [tick, setTick] = useState(0);
  const okStatuses = useRef(options.okStatuses);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    if (target === null) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let busy = false;
    let first = true;
    const controller = new AbortController();

    const run = async () => {
      if (stopped) return;
      busy = true;
      let delay = intervalMs;
      if (!document.hidden || first) {
        first = false;
        try {
          const data = await api<T>(target, { signal: controller.signal, okStatuses: okStatuses.current });
          failures = 0;
          setState((s) => (s.target === target && s.data === data && !s.error ? s : { target, data, error: null }));
        } catch (err) {
          if (stopped) return;
          failures += 1;
          const retry = err instanceof ApiError && err.retryAfter ? err.retryAfter * 1000 : 0;
          delay = Math.max(retry, Math.min(30_000, Math.max(intervalMs, 1000) * 2 ** Math.min(failures, 5)));
          setState((s) => ({ target, data: s.target === target ? s.data : null, error: err as Error }));
        }
      }
      busy = false;
      if (!stopped && intervalMs > 0) timer = setTimeout(run, delay);
    };
    void run();
    const wake = () => {
      if (!document.hidden && intervalMs > 0 && !busy) {
        clearTimeout(timer);
        void run();
      }
    };
    document.addEventListener("visibilitychange", wake);
    return () => {
      stopped = true;
      controller.abort();
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", wake);
    };
  }, [target, intervalMs, tick]);

  const current = state.target === target;
  return {
    data: current ? state.data : null,
    error: current ? state.error : null,
    loading: target !== null && (!current || (state.data === null && state.error === null)),
    reload,
  };
}
