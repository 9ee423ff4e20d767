// One incident: its topology root cause with the evidence, the model's verdict with the operators'
// feedback and the form to give it (RcaPanel), the business impact (score, components, revenue at
// risk per hour, services), its linked ticket with the SLA countdown, the members with the reason each
// joined and when, and the timeline.
import type { IncidentDetail, IncidentMember } from "../../api/types";
import { ago, dateTime, number, perHour } from "../../lib/format";
import { Link } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import type { ViewProps } from "../../routes";
import { LinkedTickets } from "../tickets/LinkedTickets";
import { RcaPanel } from "./RcaPanel";

const POLL_MS = 5000;
const COMPONENTS: Record<string, string> = {
  criticality: "Criticality",
  services: "Business services",
  blast_radius: "Blast radius",
  severity: "Severity",
  duration: "Duration",
};

const alertLink = (incidentId: string, alertId: string) =>
  `/alerts?status=&incident_id=${encodeURIComponent(incidentId)}&selected=${encodeURIComponent(alertId)}`;

export default function IncidentPage({ params }: ViewProps) {
  const id = params.id;
  const { data, error, reload } = usePoll<IncidentDetail>(`/api/v1/incidents/${encodeURIComponent(id)}`, POLL_MS);
  if (!data) return <p className={error ? "error" : "empty"}>{error ? error.message : "Loading…"}</p>;
  const { incident: i, members, former_members: former, root_cause: root, impact, timeline } = data;
  const rootMember = root && members.concat(former).find((m) => m.alert_id === root.alert_id);

  return (
    <div className="page incident-page">
      <header className="page-head">
        <span className={`badge sev-${i.severity}`}>{i.severity}</span>
        <h1>{i.title || i.incident_id}</h1>
        <span className={`status st-${i.status}`} data-testid="incident-status">
          {i.status}
        </span>
        {i.merged_into && <Link to={`/incidents/${encodeURIComponent(i.merged_into)}`}>merged into {i.merged_into}</Link>}
        <span className="muted" title={i.opened_at}>
          opened {dateTime(i.opened_at)} ({ago(i.opened_at)})
        </span>
        <Link to={`/alerts?status=&incident_id=${encodeURIComponent(i.incident_id)}`}>Its alerts</Link>
        <LinkedTickets links={[`incident:${i.incident_id}`]} testId="incident-tickets" />
      </header>
      <div className="columns">
        <section className="card" aria-label="Root cause" data-testid="root-cause">
          <h2>Root cause</h2>
          {root ? (
            <>
              <p>
                <strong>
                  <Link to={`/assets/${encodeURIComponent(root.asset_id)}`}>{rootMember?.resource || root.asset_id}</Link>
                </strong>{" "}
                {rootMember && (
                  <Link to={alertLink(i.incident_id, root.alert_id)}>{rootMember.title || rootMember.event}</Link>
                )}
              </p>
              <p>
                Explains {root.explains} of {root.of} other member assets: <span className="muted">{root.evidence}</span>
              </p>
            </>
          ) : (
            <p className="muted">None evident: no member explains at least 80 % of the others.</p>
          )}
        </section>
        <RcaPanel detail={data} alertLink={(alertId) => alertLink(i.incident_id, alertId)} onChanged={reload} />
        {impact && (
          <section className="card" aria-label="Business impact" data-testid="impact">
            <h2>
              Business impact <span className="impact-score">{number(impact.score, 1)}</span>
              <span className="muted"> / 100</span>
            </h2>
            <p>
              Revenue at risk <strong data-testid="revenue">{perHour(impact.revenue_per_hour)}</strong>
              {impact.users > 0 && <>, {number(impact.users)} users</>}; {number(impact.blast_radius)} assets affected
            </p>
            {impact.services.length > 0 && (
              <p>
                Services:{" "}
                {impact.services.map((s, n) => (
                  <span key={s.asset_id}>
                    {n > 0 && ", "}
                    <Link to={`/assets/${encodeURIComponent(s.asset_id)}`}>{s.name}</Link> ({perHour(s.revenue_per_hour)})
                  </span>
                ))}
              </p>
            )}
            <table className="grid components">
              <thead>
                <tr>
                  <th>Component</th>
                  <th>Value</th>
                  <th>Weight</th>
                  <th>Points</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(impact.components).map(([k, v]) => (
                  <tr key={k}>
                    <td>{COMPONENTS[k] ?? k}</td>
                    <td className="c-num">
                      <span className="bar" style={{ width: `${Math.round(v * 60)}px` }} /> {number(v, 2)}
                    </td>
                    <td className="c-num">{number(impact.weights[k], 2)}</td>
                    <td className="c-num">{number(100 * v * (impact.weights[k] ?? 0), 1)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        )}
      </div>
      <section className="card" aria-label="Members">
        <h2>Members ({members.length})</h2>
        <Members incidentId={i.incident_id} rows={members} />
        {former.length > 0 && (
          <details>
            <summary>Former members ({former.length}): moved by a merge or a split</summary>
            <Members incidentId={i.incident_id} rows={former} />
          </details>
        )}
      </section>
      <section className="card" aria-label="Timeline">
        <h2>Timeline</h2>
        <ol className="history">
          {[...timeline].reverse().map((t) => (
            <li key={t.version}>
              <span className="when" title={t.at}>
                {dateTime(t.at)}
              </span>{" "}
              <strong>{t.kind}</strong> {t.status}, {t.alerts} alerts, impact {number(t.impact_score, 1)}
              {t.reason ? <div className="reason">{t.reason}</div> : null}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}

function Members({ incidentId, rows }: { incidentId: string; rows: IncidentMember[] }) {
  const titles = new Map(rows.map((m) => [m.alert_id, m.resource || m.title]));
  return (
    <div className="table-wrap">
      <table className="grid members">
        <thead>
          <tr>
            <th>Severity</th>
            <th>Alert</th>
            <th>Resource</th>
            <th>Status</th>
            <th>Joined</th>
            <th>Reason</th>
            <th>Evidence</th>
            <th>Impact</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((m) => (
            <tr key={`${m.alert_id}-${m.episode}`}>
              <td>
                <span className={`badge sev-${m.severity}`}>{m.severity}</span>
              </td>
              <td>
                <Link to={alertLink(incidentId, m.alert_id)}>{m.title || m.event}</Link>
              </td>
              <td>{m.asset_id ? <Link to={`/assets/${encodeURIComponent(m.asset_id)}`}>{m.resource}</Link> : m.resource}</td>
              <td>{m.status}</td>
              <td title={m.joined_at}>
                {dateTime(m.joined_at)}
                {m.left_at && <span className="muted"> left {dateTime(m.left_at)}</span>}
              </td>
              <td>
                <strong>{m.reason}</strong>
                {m.arrival !== "decision" && <span className="muted"> ({m.arrival})</span>}
              </td>
              <td className="small">
                {m.detail}
                {m.linked_to && <span className="muted"> → {titles.get(m.linked_to) ?? m.linked_to}</span>}
              </td>
              <td className="c-num">{number(m.impact, 1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
