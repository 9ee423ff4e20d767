// The open alerts of many assets at once (for the inventory and the topology): the worst severity
// and the count per asset, read with `asset_id=…` repeated (OR) in chunks of 100.
import { api, url } from "../api/client";
import type { AlertPage } from "../api/types";
import { ACTIVE_STATUSES, severityRank } from "./format";

export interface AssetAlerts {
  severity: string;
  count: number;
}

const CHUNK = 100;

export async function alertsByAsset(ids: string[], signal?: AbortSignal): Promise<Map<string, AssetAlerts>> {
  const out = new Map<string, AssetAlerts>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const page = await api<AlertPage>(
      url("/api/v1/alerts", { asset_id: chunk, status: ACTIVE_STATUSES, sort: "severity", limit: 1000, total: "false" }),
      { signal },
    );
    for (const a of page.alerts) {
      if (!a.asset_id) continue;
      const held = out.get(a.asset_id);
      if (!held) out.set(a.asset_id, { severity: a.severity, count: 1 });
      else {
        held.count += 1;
        if (severityRank(a.severity) < severityRank(held.severity)) held.severity = a.severity;
      }
    }
  }
  return out;
}
