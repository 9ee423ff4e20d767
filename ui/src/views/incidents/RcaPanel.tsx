// The root-cause model's verdict on an incident (`rca`, docs/rca.md): the asset and alert it names,
// its confidence, the explanation, the top-3 candidates, the model version and, once the online model
// learned operator feedback, the blend of the forest and the online model. Below it the operators'
// feedback (`rca_feedback`) and, for those who may give it (`write:incidents`), the form.
import type { IncidentDetail } from "../../api/types";
import { ago, dateTime, number, percent } from "../../lib/format";
import { Link } from "../../lib/router";
import { useSession } from "../../session";
import { RootCauseForm } from "./RootCauseForm";

const assetLink = (assetId: string) => `/assets/${encodeURIComponent(assetId)}`;

export function RcaPanel({ detail, alertLink, onChanged }: {
  detail: IncidentDetail;
  alertLink: (alertId: string) => string;
  onChanged: () => void;
}) {
  const { can } = useSession();
  const { incident, members, rca, root_cause: root } = detail;
  const feedback = detail.rca_feedback ?? [];
  const names = new Map<string, string>();
  for (const m of members) if (m.asset_id) names.set(m.asset_id, m.resource || m.asset_id);
  for (const c of rca?.candidates ?? []) names.set(c.asset_id, c.name);
  if (rca) names.set(rca.asset_id, rca.name);
  const nameOf = (assetId: string) => names.get(assetId) ?? assetId;
  // The explanation's first part restates the asset and its alert (shown above); then one sentence
  // per piece of evidence.
  const sentences = (rca?.explanation ?? "").split("; ").slice(1);

  return (
    <section className="card" aria-label="Root cause (model)" data-testid="rca">
      <h2>Root cause (model)</h2>
      {rca ? (
        <>
          <p>
            <strong>
              <Link to={assetLink(rca.asset_id)}>{rca.name}</Link>
            </strong>{" "}
            {rca.alert_id ? <Link to={alertLink(rca.alert_id)}>{rca.event || rca.alert_id}</Link> : <span className="muted">never alerted</span>}
            {" — "}
            <strong data-testid="rca-confidence">{percent(rca.confidence)}</strong> confidence
          </p>
          {sentences.length > 0 && (
            <ul className="links" data-testid="rca-explanation">
              {sentences.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
          )}
          <table className="grid" data-testid="rca-candidates">
            <thead>
              <tr>
                <th>Candidate</th>
                <th>Alert</th>
                <th>Probability</th>
              </tr>
            </thead>
            <tbody>
              {rca.candidates.map((c) => (
                <tr key={c.asset_id}>
                  <td>
                    <Link to={assetLink(c.asset_id)}>{c.name}</Link>
                  </td>
                  <td>{c.event ?? <span className="muted">none</span>}</td>
                  <td className="c-num">{percent(c.probability)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="small muted" data-testid="rca-model">
            Model {rca.model}
            {rca.blend && (
              <>
                : forest {percent(rca.blend.forest)} / online {percent(rca.blend.online)} (weight{" "}
                {number(rca.blend.weight, 2)}, {number(rca.blend.labels)} {rca.blend.labels === 1 ? "label" : "labels"})
              </>
            )}
          </p>
        </>
      ) : (
        <p className="muted">No verdict: the model ranked no candidate for this incident.</p>
      )}
      <h3>Operator feedback ({feedback.length})</h3>
      {feedback.length > 0 ? (
        <div className="table-wrap">
          <table className="grid" data-testid="rca-feedback">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>Verdict</th>
                <th>Asset</th>
                <th>Comment</th>
              </tr>
            </thead>
            <tbody>
              {feedback.map((f) => (
                <tr key={f.command_id}>
                  <td title={dateTime(f.at)}>{ago(f.at)}</td>
                  <td>{f.actor}</td>
                  <td>{f.verdict}</td>
                  <td>
                    <Link to={assetLink(f.asset_id)}>{nameOf(f.asset_id)}</Link>
                  </td>
                  <td className="wrap">{f.comment}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted">None yet.</p>
      )}
      {can("write:incidents") && (
        <RootCauseForm
          incidentId={incident.incident_id}
          named={rca?.asset_id ?? root?.asset_id ?? null}
          choices={[...names.keys()]}
          nameOf={nameOf}
          onDone={onChanged}
        />
      )}
    </section>
  );
}
