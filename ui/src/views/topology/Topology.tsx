// A business service's graph: members and everything they run on and depend on; nodes with open
// alerts take the colour of their worst severity; a click opens the asset.
import cytoscape, { type Core } from "cytoscape";
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { url } from "../../api/client";
import type { Graph, ServiceList } from "../../api/types";
import { alertsByAsset, type AssetAlerts } from "../../lib/assetAlerts";
import { NO_ALERT, SEVERITY_COLORS } from "../../lib/colors";
import { Link, navigate } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import type { ViewProps } from "../../routes";

const ALERT_POLL_MS = 10_000;

/** The names of the first 1,000 business services, for the picker. */
function useServices(): string[] {
  const { data } = usePoll<ServiceList>(url("/api/v1/services", { limit: 1000 }), 0);
  return useMemo(() => (data?.services ?? []).map((s) => s.name), [data]);
}

export default function Topology({ params }: ViewProps) {
  const service = params.service ?? null;
  const services = useServices();
  const [draft, setDraft] = useState(service ?? "");
  useEffect(() => setDraft(service ?? ""), [service]);

  const graph = usePoll<Graph>(service ? `/api/v1/services/${encodeURIComponent(service)}/graph` : null, 60_000);
  const alerts = useNodeAlerts(graph.data);
  const choose = (e: FormEvent) => {
    e.preventDefault();
    if (draft.trim()) navigate(`/topology/${encodeURIComponent(draft.trim())}`);
  };

  return (
    <div className="page topology">
      <form className="filter-bar" onSubmit={choose} aria-label="Business service">
        <label>
          Business service{" "}
          <input list="services" value={draft} onChange={(e) => setDraft(e.target.value)} aria-label="Business service name" />
        </label>
        <datalist id="services">
          {services.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
        <button type="submit" className="primary">
          Show
        </button>
        <span className="legend">
          {Object.entries(SEVERITY_COLORS).slice(0, 4).map(([s, c]) => (
            <span key={s} className="legend-item">
              <i className="dot" style={{ background: c }} /> {s}
            </span>
          ))}
          <span className="legend-item">
            <i className="dot" style={{ background: NO_ALERT }} /> no open alert
          </span>
          <span className="legend-item">
            <i className="dot member" /> service member
          </span>
        </span>
      </form>
      <p>
        <Link to="/topology">All business services</Link>
      </p>
      {graph.error && <p className="error">{graph.error.message}</p>}
      {graph.data && (
        <p className="muted">
          {graph.data.nodes.length} assets, {graph.data.edges.length} links; {alerts.size} with open alerts. Click a node to open the asset.
        </p>
      )}
      {graph.data && <GraphView graph={graph.data} alerts={alerts} />}
    </div>
  );
}

function useNodeAlerts(graph: Graph | null): Map<string, AssetAlerts> {
  const [alerts, setAlerts] = useState<Map<string, AssetAlerts>>(new Map());
  useEffect(() => {
    if (!graph) return;
    const controller = new AbortController();
    const ids = graph.nodes.map((n) => n.asset_id);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () =>
      alertsByAsset(ids, controller.signal)
        .then(setAlerts)
        .catch(() => {})
        .finally(() => {
          if (!controller.signal.aborted) timer = setTimeout(run, ALERT_POLL_MS);
        });
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [graph]);
  return alerts;
}

/** The top of the drawing: members nothing else in the graph depends on (else every member). */
function roots(graph: Graph, members: Set<string>): string[] {
  const needed = new Set(graph.edges.map((e) => e.target));
  const top = graph.nodes.map((n) => n.asset_id).filter((id) => members.has(id) && !needed.has(id));
  return top.length ? top : graph.nodes.filter((n) => members.has(n.asset_id)).map((n) => n.asset_id);
}

function GraphView({ graph, alerts }: { graph: Graph; alerts: Map<string, AssetAlerts> }) {
  const box = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | null>(null);

  useEffect(() => {
    if (!box.current) return;
    const members = new Set(graph.members ?? []);
    const ids = new Set(graph.nodes.map((n) => n.asset_id));
    const fg = getComputedStyle(document.documentElement).getPropertyValue("--fg").trim() || "#222";
    const instance = cytoscape({
      container: box.current,
      elements: [
        ...graph.nodes.map((n) => ({
          data: { id: n.asset_id, label: n.name || n.asset_id, type: n.type ?? "", color: NO_ALERT, member: members.has(n.asset_id) ? 1 : 0 },
        })),
        ...graph.edges
          .filter((e) => ids.has(e.source) && ids.has(e.target))
          .map((e) => ({ data: { id: `${e.source}|${e.type}|${e.target}`, source: e.source, target: e.target, type: e.type } })),
      ],
      style: [
        {
          selector: "node",
          style: {
            "background-color": "data(color)",
            label: "data(label)",
            color: fg,
            "font-size": 11,
            "text-valign": "bottom",
            "text-margin-y": 4,
            width: 26,
            height: 26,
          },
        },
        { selector: "node[member = 1]", style: { "border-width": 3, "border-color": fg, shape: "round-rectangle" } },
        {
          selector: "edge",
          style: {
            width: 1.5,
            "line-color": NO_ALERT,
            "target-arrow-color": NO_ALERT,
            "target-arrow-shape": "triangle",
            "curve-style": "bezier",
            "arrow-scale": 0.8,
          },
        },
        { selector: "edge[type = 'runs_on']", style: { "line-style": "dashed" } },
      ],
      layout: { name: "breadthfirst", directed: true, roots: roots(graph, members), spacingFactor: 1.05, padding: 20 },
    });
    instance.on("tap", "node", (e) => navigate(`/assets/${encodeURIComponent(e.target.id())}`));
    instance.on("mouseover", "node", () => box.current?.classList.add("pointing"));
    instance.on("mouseout", "node", () => box.current?.classList.remove("pointing"));
    cy.current = instance;
    return () => {
      instance.destroy();
      cy.current = null;
    };
  }, [graph]);

  useEffect(() => {
    const instance = cy.current;
    if (!instance) return;
    instance.batch(() => {
      instance.nodes().forEach((node) => {
        const found = alerts.get(node.id());
        node.data("color", found ? (SEVERITY_COLORS[found.severity] ?? NO_ALERT) : NO_ALERT);
        node.data("severity", found?.severity ?? "");
      });
    });
  }, [alerts, graph]);

  return <div ref={box} className="graph" data-testid="topology-graph" />;
}
