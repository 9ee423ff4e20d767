// The alert console: filters, the live list, bulk actions and the detail panel.
// Keys: j / k move, Enter or o opens, x selects, a acks (the selection, else the focused alert),
// Esc closes the panel, / searches.
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Alert } from "../../api/types";
import { filterSearch, fromParams, toggleSort, toParams, type AlertFilter } from "../../lib/filters";
import { number } from "../../lib/format";
import { navigate, useLocation } from "../../lib/router";
import { useSession } from "../../session";
import { act, actOnAll, allowed, describe, LABELS, type Action, type ActionArgs } from "./actions";
import { AlertDetail } from "./AlertDetail";
import { AlertTable } from "./AlertTable";
import { FilterBar } from "./FilterBar";
import { useAlertList } from "./useAlertList";

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

export default function AlertConsole() {
  const { can } = useSession();
  const writer = can("write:alerts");
  const location = useLocation();
  const filter = useMemo(() => fromParams(location.search), [location.search]);
  const query = useMemo(() => toParams(filter).toString(), [filter]);
  const selectedId = location.search.get("selected");
  const list = useAlertList(query);
  const [focusedId, setFocusedId] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [assignTo, setAssignTo] = useState("");
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);

  const go = useCallback(
    (f: AlertFilter, selected: string | null) => {
      const p = new URLSearchParams(filterSearch(f));
      if (selected) p.set("selected", selected);
      const text = p.toString();
      navigate(`/alerts${text ? `?${text}` : ""}`, { replace: true });
    },
    [],
  );
  const setFilter = (f: AlertFilter) => {
    setSelected(new Set());
    go(f, selectedId);
  };
  const open = useCallback((id: string | null) => go(filter, id), [go, filter]);

  const rows = list.rows;
  const byId = useMemo(() => new Map(rows.map((r) => [r.alert_id, r])), [rows]);
  const chosen = useMemo(() => [...selected].map((id) => byId.get(id)).filter((a): a is Alert => !!a), [selected, byId]);

  const bulk = async (action: Action, args: ActionArgs = {}) => {
    setBusy(true);
    setNotice(null);
    const result = await actOnAll(chosen, action, args);
    setBusy(false);
    setNotice({ ok: result.failed.length === 0 && result.notSent === 0, text: describe(action, result) });
    if (result.done) setSelected(new Set());
    list.refresh();
  };

  const ackFocused = useCallback(async () => {
    const a = focusedId ? byId.get(focusedId) : undefined;
    if (!a) return;
    if (!allowed("ack", a.status)) {
      setNotice({ ok: false, text: `Cannot ack an alert that is ${a.status}` });
      return;
    }
    try {
      await act(a.alert_id, "ack");
      setNotice({ ok: true, text: `Acknowledged: ${a.title}` });
    } catch (err) {
      setNotice({ ok: false, text: err instanceof Error ? err.message : String(err) });
    }
    list.refresh();
  }, [focusedId, byId, list]);

  // Keyboard: j/k/x/a/o/Enter/Esc and "/".
  const { refresh } = list;
  const bulkRef = useLatest(bulk);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typing(e.target) || e.metaKey || e.ctrlKey || e.altKey) return;
      const index = focusedId ? rows.findIndex((r) => r.alert_id === focusedId) : -1;
      const move = (delta: number) => {
        const next = rows[Math.max(0, Math.min(rows.length - 1, index + delta))];
        if (next) {
          setFocusedId(next.alert_id);
          if (selectedId) open(next.alert_id);
        }
      };
      switch (e.key) {
        case "j":
        case "ArrowDown":
          move(1);
          break;
        case "k":
        case "ArrowUp":
          move(index < 0 ? 1 : -1);
          break;
        case "Enter":
        case "o":
          if (focusedId) open(focusedId);
          break;
        case "Escape":
          if (selectedId) open(null);
          break;
        case "x":
          if (focusedId && writer)
            setSelected((s) => {
              const n = new Set(s);
              if (!n.delete(focusedId)) n.add(focusedId);
              return n;
            });
          break;
        case "a":
          if (!writer) return;
          if (selected.size) void bulkRef.current("ack");
          else void ackFocused();
          break;
        case "r":
          refresh();
          break;
        case "/":
          (document.querySelector(".filter-bar input[type=search]") as HTMLInputElement | null)?.focus();
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [rows, focusedId, selectedId, open, writer, selected, ackFocused, refresh, bulkRef]);

  return (
    <div className={`console${selectedId ? " with-detail" : ""}`}>
      <section className="console-main">
        <FilterBar filter={filter} onChange={setFilter} />
        <div className="list-bar">
          <span className="count" data-testid="alert-count">
            {list.total === null ? (list.loading ? "Loading…" : "") : `${list.totalExact ? "" : "≈ "}${number(list.total)} alerts`}
            {rows.length > 0 && list.total !== null && rows.length < list.total ? ` (${number(rows.length)} loaded)` : ""}
          </span>
          {list.error && (
            <span className="error" role="alert">
              {list.error}
            </span>
          )}
          <span className="live" title="The list refreshes every 2 s">
            ● live
          </span>
          {writer && selected.size > 0 && (
            <span className="bulk" aria-label="Bulk actions">
              <strong>{selected.size} selected</strong>
              {(["ack", "close"] as Action[]).map((action) => (
                <button key={action} disabled={busy} onClick={() => void bulk(action)}>
                  {LABELS[action]}
                </button>
              ))}
              <button disabled={busy} onClick={() => void bulk("shelve", { duration: 3600 })} title="Shelve for one hour">
                Shelve 1 h
              </button>
              <input placeholder="user" value={assignTo} onChange={(e) => setAssignTo(e.target.value)} aria-label="Assign selected to" />
              <button disabled={busy || !assignTo.trim()} onClick={() => void bulk("assign", { user: assignTo.trim() })}>
                Assign
              </button>
              <button disabled={busy} onClick={() => setSelected(new Set())}>
                Clear
              </button>
            </span>
          )}
        </div>
        {notice && (
          <p className={`notice ${notice.ok ? "ok" : "error"}`} role="status">
            {notice.text}
          </p>
        )}
        <AlertTable
          rows={rows}
          sort={filter.sort}
          onSort={(field) => setFilter({ ...filter, sort: toggleSort(filter.sort, field) })}
          focusedId={focusedId}
          onFocus={(a) => {
            setFocusedId(a.alert_id);
            open(a.alert_id);
          }}
          selected={selected}
          selectable={writer}
          onToggle={(id) =>
            setSelected((s) => {
              const n = new Set(s);
              if (!n.delete(id)) n.add(id);
              return n;
            })
          }
          onToggleAll={() => setSelected((s) => (rows.every((r) => s.has(r.alert_id)) ? new Set() : new Set(rows.map((r) => r.alert_id))))}
          hasMore={list.hasMore}
          loadingMore={list.loadingMore}
          onLoadMore={list.loadMore}
          now={now}
        />
        {!list.loading && rows.length === 0 && !list.error && <p className="empty">No alert matches this filter.</p>}
        <p className="keys">
          Keys: <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>Enter</kbd> open · <kbd>Esc</kbd> close
          {writer && (
            <>
              {" "}
              · <kbd>x</kbd> select · <kbd>a</kbd> ack
            </>
          )}{" "}
          · <kbd>/</kbd> search · <kbd>r</kbd> refresh
        </p>
      </section>
      {selectedId && <AlertDetail key={selectedId} alertId={selectedId} onClose={() => open(null)} onChanged={list.refresh} />}
    </div>
  );
}

function useLatest<T>(value: T): { current: T } {
  const [ref] = useState(() => ({ current: value }));
  ref.current = value;
  return ref;
}
