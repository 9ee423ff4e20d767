// Filters of the alert console: status and severity chips, free text, any other condition in the
// API's grammar, and saved views (built-in + the user's, kept in localStorage).
import { useEffect, useState, type FormEvent } from "react";
import {
  BUILT_IN_VIEWS,
  filterSearch,
  fromParams,
  loadViews,
  parseExtra,
  storeViews,
  type AlertFilter,
  type SavedView,
} from "../../lib/filters";
import { SEVERITIES, STATUSES } from "../../lib/format";

const SEVERITY_CHIPS = SEVERITIES.slice(0, 6);

function toggle(list: string[], value: string): string[] {
  return list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
}

export function FilterBar({ filter, onChange }: { filter: AlertFilter; onChange: (f: AlertFilter) => void }) {
  const [q, setQ] = useState(filter.q);
  const [extra, setExtra] = useState(filter.extra);
  const [views, setViews] = useState<SavedView[]>(loadViews);
  useEffect(() => setQ(filter.q), [filter.q]);
  useEffect(() => setExtra(filter.extra), [filter.extra]);

  const problems = parseExtra(extra).errors;
  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    if (!problems.length) onChange({ ...filter, q, extra });
  };
  // A view is stored as the page's query string: "status=" (any status) survives, unlike in toParams.
  const current = filterSearch(filter);
  const chosen = [...BUILT_IN_VIEWS, ...views].find((v) => filterSearch(fromParams(new URLSearchParams(v.query))) === current);

  const [naming, setNaming] = useState<string | null>(null);
  const save = () => {
    const name = (naming ?? "").trim();
    if (!name) return;
    const next = [...views.filter((v) => v.name !== name), { name, query: current }];
    storeViews(next);
    setViews(next);
    setNaming(null);
  };
  const remove = () => {
    if (!chosen || !views.includes(chosen)) return;
    const next = views.filter((v) => v !== chosen);
    storeViews(next);
    setViews(next);
  };

  return (
    <form className="filter-bar" onSubmit={apply} aria-label="Alert filters">
      <div className="filter-row">
        <select
          aria-label="Saved views"
          value={chosen?.name ?? ""}
          onChange={(e) => {
            const view = [...BUILT_IN_VIEWS, ...views].find((v) => v.name === e.target.value);
            if (view) onChange(fromParams(new URLSearchParams(view.query)));
          }}
        >
          {!chosen && <option value="">(custom filter)</option>}
          <optgroup label="Built-in">
            {BUILT_IN_VIEWS.map((v) => (
              <option key={v.name}>{v.name}</option>
            ))}
          </optgroup>
          {views.length > 0 && (
            <optgroup label="Saved">
              {views.map((v) => (
                <option key={v.name}>{v.name}</option>
              ))}
            </optgroup>
          )}
        </select>
        {naming === null ? (
          <button type="button" onClick={() => setNaming("")} title="Save the current filter as a view (kept in this browser)">
            Save view
          </button>
        ) : (
          <span className="naming">
            <input
              autoFocus
              aria-label="Name of the view"
              placeholder="Name of the view"
              value={naming}
              onChange={(e) => setNaming(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") {
                  e.preventDefault();
                  save();
                } else if (e.key === "Escape") setNaming(null);
              }}
            />
            <button type="button" onClick={save} disabled={!naming.trim()}>
              Save
            </button>
            <button type="button" onClick={() => setNaming(null)}>
              Cancel
            </button>
          </span>
        )}
        {chosen && views.includes(chosen) && (
          <button type="button" onClick={remove} title="Delete this saved view">
            Delete
          </button>
        )}
        <input
          className="grow"
          type="search"
          aria-label="Search text"
          placeholder="Search title, text, resource, event, asset"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          onBlur={() => q !== filter.q && apply()}
        />
      </div>
      <div className="filter-row chips">
        <span className="chip-label">Status</span>
        {STATUSES.map((s) => (
          <button
            type="button"
            key={s}
            className={`chip${filter.status.includes(s) ? " on" : ""}`}
            aria-pressed={filter.status.includes(s)}
            onClick={() => onChange({ ...filter, status: toggle(filter.status, s) })}
          >
            {s}
          </button>
        ))}
        <span className="chip-label">Severity</span>
        {SEVERITY_CHIPS.map((s) => (
          <button
            type="button"
            key={s}
            className={`chip sev-chip sev-${s}${filter.severity.includes(s) ? " on" : ""}`}
            aria-pressed={filter.severity.includes(s)}
            onClick={() => onChange({ ...filter, severity: toggle(filter.severity, s) })}
          >
            {s}
          </button>
        ))}
      </div>
      <div className="filter-row">
        <input
          className="grow mono"
          aria-label="More conditions"
          placeholder="More conditions, & between them: environment=prod&tag=db&event=~^Disk&duplicate_count>=10&assignee!=*"
          value={extra}
          onChange={(e) => setExtra(e.target.value)}
        />
        <button type="submit" className="primary" disabled={problems.length > 0}>
          Apply
        </button>
      </div>
      {problems.length > 0 && <p className="error">{problems.join("; ")}</p>}
    </form>
  );
}
