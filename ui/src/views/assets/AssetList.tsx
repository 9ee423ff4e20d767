// The asset inventory: filters in the URL, keyset pages ("Load more"), open alerts per asset.
import { useEffect, useState, type FormEvent } from "react";
import { api, url } from "../../api/client";
import type { Asset, AssetPage } from "../../api/types";
import { alertsByAsset, type AssetAlerts } from "../../lib/assetAlerts";
import { ago, number } from "../../lib/format";
import { Link, navigate, useLocation } from "../../lib/router";

const FIELDS = [
  ["type", "Type"],
  ["environment", "Environment"],
  ["service", "Business service"],
  ["owner_team", "Team"],
  ["vendor", "Vendor"],
  ["tag", "Tag"],
  ["lifecycle", "Lifecycle"],
] as const;
const SORTS = [
  ["name", "Name"],
  ["type", "Type"],
  ["-updated_at", "Recently changed"],
  ["-created_at", "Recently created"],
] as const;

export default function AssetList() {
  const { search } = useLocation();
  const [draft, setDraft] = useState(() => Object.fromEntries(search));
  useEffect(() => setDraft(Object.fromEntries(search)), [search]);
  const [assets, setAssets] = useState<Asset[]>([]);
  const [page, setPage] = useState<{ total: number; cursor: string | null } | null>(null);
  const [alerts, setAlerts] = useState<Map<string, AssetAlerts>>(new Map());
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const query = search.toString();

  const load = async (cursor: string | null, signal?: AbortSignal) => {
    setLoading(true);
    setError(null);
    try {
      const params = new URLSearchParams(query);
      params.set("limit", "100");
      if (cursor) params.set("cursor", cursor);
      const body = await api<AssetPage>(url("/api/v1/assets", params), { signal });
      setAssets((prev) => (cursor ? [...prev, ...body.assets] : body.assets));
      setPage({ total: body.total, cursor: body.next_cursor ?? null });
      const found = await alertsByAsset(body.assets.map((a) => a.asset_id), signal);
      setAlerts((prev) => (cursor ? new Map([...prev, ...found]) : found));
    } catch (err) {
      if (!signal?.aborted) setError(err instanceof Error ? err.message : String(err));
    } finally {
      if (!signal?.aborted) setLoading(false);
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    void load(null, controller.signal);
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `load` reads `query`, the only input
  }, [query]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(draft)) if (v.trim()) p.set(k, v.trim());
    navigate(`/assets${p.toString() ? `?${p}` : ""}`);
  };
  const set = (k: string, v: string) => setDraft((d) => ({ ...d, [k]: v }));

  return (
    <div className="page">
      <form className="filter-bar asset-filters" onSubmit={apply} aria-label="Asset filters">
        <input type="search" placeholder="Search name, id, vendor, model, location" value={draft.q ?? ""} onChange={(e) => set("q", e.target.value)} aria-label="Search assets" className="grow" />
        {FIELDS.map(([k, label]) => (
          <input key={k} placeholder={label} value={draft[k] ?? ""} onChange={(e) => set(k, e.target.value)} aria-label={label} size={11} />
        ))}
        <select value={draft.sort ?? "name"} onChange={(e) => set("sort", e.target.value)} aria-label="Sort">
          {SORTS.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </select>
        <button type="submit" className="primary">
          Apply
        </button>
      </form>
      <div className="list-bar">
        <span className="count">{page ? `${number(page.total)} assets` : loading ? "Loading…" : ""}</span>
        {error && <span className="error">{error}</span>}
      </div>
      <div className="table-wrap">
        <table className="grid">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th>Alerts</th>
              <th>Environment</th>
              <th>Service</th>
              <th>Team</th>
              <th>Vendor / model</th>
              <th>Crit.</th>
              <th>Lifecycle</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {assets.map((a) => {
              const open = alerts.get(a.asset_id);
              return (
                <tr key={a.asset_id}>
                  <td>
                    <Link to={`/assets/${encodeURIComponent(a.asset_id)}`}>{a.name || a.asset_id}</Link>
                  </td>
                  <td>{a.type}</td>
                  <td>{open ? <span className={`badge sev-${open.severity}`}>{open.count} {open.severity}</span> : ""}</td>
                  <td>{a.environment}</td>
                  <td>{a.business_service ? <Link to={`/topology/${encodeURIComponent(a.business_service)}`}>{a.business_service}</Link> : ""}</td>
                  <td>{a.owner_team}</td>
                  <td>{[a.vendor, a.model].filter(Boolean).join(" ")}</td>
                  <td>{a.criticality ?? ""}</td>
                  <td>{a.lifecycle}</td>
                  <td title={a.updated_at}>{ago(a.updated_at)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {!loading && assets.length === 0 && !error && <p className="empty">No asset matches.</p>}
        {page?.cursor && (
          <button className="more-button" disabled={loading} onClick={() => void load(page.cursor)}>
            {loading ? "Loading…" : "Load more"}
          </button>
        )}
      </div>
    </div>
  );
}
