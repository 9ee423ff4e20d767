// The alert rows, virtualised: only the rows in view are in the DOM, so 10,000 loaded alerts scroll
// as smoothly as 50. Scrolling near the end loads the next keyset page.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useRef } from "react";
import type { Alert } from "../../api/types";
import { ago, TREND_ARROWS } from "../../lib/format";
import { sortOf } from "../../lib/filters";

export const ROW_HEIGHT = 30;

const COLUMNS: { key: string; label: string; sort?: string; className: string }[] = [
  { key: "severity", label: "Severity", sort: "severity", className: "c-sev" },
  { key: "status", label: "Status", sort: "status", className: "c-status" },
  { key: "title", label: "Alert", sort: "title", className: "c-title" },
  { key: "resource", label: "Resource", sort: "resource", className: "c-res" },
  { key: "duplicate_count", label: "Dup", sort: "duplicate_count", className: "c-num" },
  { key: "last_seen", label: "Last seen", sort: "last_seen", className: "c-time" },
  { key: "assignee", label: "Assignee", sort: "assignee", className: "c-who" },
];

interface Props {
  rows: Alert[];
  sort: string;
  onSort: (field: string) => void;
  focusedId: string | null;
  onFocus: (alert: Alert, index: number) => void;
  selected: Set<string>;
  onToggle: (alertId: string) => void;
  onToggleAll: () => void;
  selectable: boolean;
  hasMore: boolean;
  loadingMore: boolean;
  onLoadMore: () => void;
  now: number;
}

export function AlertTable(props: Props) {
  const { rows, focusedId, hasMore, loadingMore, onLoadMore } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (i) => rows[i].alert_id,
  });
  const items = virtual.getVirtualItems();
  const lastIndex = items.length ? items[items.length - 1].index : -1;

  useEffect(() => {
    if (hasMore && !loadingMore && lastIndex >= rows.length - 30) onLoadMore();
  }, [lastIndex, rows.length, hasMore, loadingMore, onLoadMore]);

  // Bring the focused row into view when the focus moves (not when new rows shift it: the user may
  // be reading elsewhere).
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useEffect(() => {
    const index = focusedId ? rowsRef.current.findIndex((r) => r.alert_id === focusedId) : -1;
    if (index >= 0) virtual.scrollToIndex(index, { align: "auto" });
  }, [focusedId, virtual]);

  const allSelected = rows.length > 0 && rows.every((r) => props.selected.has(r.alert_id));
  return (
    <div className="alert-table" role="grid" aria-rowcount={rows.length}>
      <div className="row head" role="row">
        {props.selectable && (
          <span className="c-check" role="columnheader">
            <input type="checkbox" aria-label="Select all loaded alerts" checked={allSelected} onChange={props.onToggleAll} />
          </span>
        )}
        {COLUMNS.map((c) => {
          const dir = c.sort ? sortOf(props.sort, c.sort) : null;
          return (
            <span key={c.key} className={c.className} role="columnheader" aria-sort={dir === "asc" ? "ascending" : dir === "desc" ? "descending" : "none"}>
              {c.sort ? (
                <button className="sort" onClick={() => props.onSort(c.sort!)} title={`Sort by ${c.label.toLowerCase()}`}>
                  {c.label} {dir === "asc" ? "↑" : dir === "desc" ? "↓" : ""}
                </button>
              ) : (
                c.label
              )}
            </span>
          );
        })}
      </div>
      <div className="rows" ref={scroller} tabIndex={-1}>
        <div className="rows-inner" style={{ height: virtual.getTotalSize() }}>
          {items.map((item) => {
            const a = rows[item.index];
            const focused = a.alert_id === focusedId;
            return (
              <div
                key={item.key}
                role="row"
                data-alert-id={a.alert_id}
                className={`row sev-${a.severity}${focused ? " focused" : ""}${props.selected.has(a.alert_id) ? " selected" : ""}`}
                style={{ transform: `translateY(${item.start}px)` }}
                onClick={() => props.onFocus(a, item.index)}
                aria-selected={focused}
              >
                {props.selectable && (
                  <span className="c-check" onClick={(e) => e.stopPropagation()}>
                    <input
                      type="checkbox"
                      aria-label={`Select ${a.title}`}
                      checked={props.selected.has(a.alert_id)}
                      onChange={() => props.onToggle(a.alert_id)}
                    />
                  </span>
                )}
                <span className="c-sev">
                  <span className={`badge sev-${a.severity}`}>{a.severity}</span>
                </span>
                <span className={`c-status st-${a.status}`}>{a.status}</span>
                <span className="c-title" title={a.text || a.title}>
                  {a.title || a.event}
                </span>
                <span className="c-res" title={a.asset_id ?? ""}>
                  {a.resource}
                </span>
                <span className="c-num" title={`${a.duplicate_count} duplicates, trend ${a.trend}`}>
                  {a.duplicate_count}
                  <span className={`trend ${a.trend}`}>{TREND_ARROWS[a.trend] ?? ""}</span>
                </span>
                <span className="c-time" title={a.last_seen}>
                  {ago(a.last_seen, props.now)}
                </span>
                <span className="c-who">{a.assignee ?? a.assigned_team ?? ""}</span>
              </div>
            );
          })}
        </div>
        {rows.length > 0 && (hasMore || loadingMore) && <div className="more">{loadingMore ? "Loading more…" : ""}</div>}
      </div>
    </div>
  );
}
