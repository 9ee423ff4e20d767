// Shapes of the query API's answers (only the fields the console reads; see /openapi.json).

export interface Me {
  name: string;
  kind: string;
  role: string | null;
  tenant: string | null;
  permissions: string[];
  expires_at?: string | null;
}

export interface Alert {
  alert_id: string;
  fingerprint: string;
  status: string;
  severity: string;
  previous_severity: string | null;
  trend: string;
  event_count: number;
  duplicate_count: number;
  first_seen: string;
  last_seen: string;
  source: string;
  event: string;
  resource: string;
  title: string;
  text: string;
  asset_id: string | null;
  environment: string;
  service: string[];
  tags: string[];
  attributes: Record<string, unknown>;
  value: string | null;
  assignee: string | null;
  assigned_team: string | null;
  acked_by: string | null;
  acked_at: string | null;
  ack_until: string | null;
  shelved_by: string | null;
  shelved_until: string | null;
  status_changed_at: string | null;
  incident_id?: string | null;
}

export interface AlertPage {
  alerts: Alert[];
  limit: number;
  total?: number | null;
  total_exact?: boolean | null;
  next_cursor?: string | null;
}

export interface HistoryEntry {
  event_id: string;
  kind: string;
  at: string;
  severity: string;
  previous_severity: string | null;
  status: string | null;
  previous_status: string | null;
  actor: string | null;
  reason: string;
}

export interface AlertDetail {
  alert: Alert;
  history: HistoryEntry[];
  /** Which silences and maintenance windows mute it now (computed when read). */
  muting?: Muting;
}

export interface Muting {
  at: string;
  muted: boolean;
  silenced_by: string[];
  suppressed_by: { window_id: string; title: string; mode: string; ends_at: string | null }[];
}

export interface ActionAnswer {
  status: "accepted" | "applied";
  command_id: string;
  alert_id: string;
  alert?: Alert | null;
}

export interface Asset {
  asset_id: string;
  name: string;
  type: string;
  natural_key?: string | null;
  vendor?: string | null;
  model?: string | null;
  addresses?: string[];
  environment?: string | null;
  location?: string | null;
  contact?: string | null;
  owner_team?: string | null;
  tags?: string[];
  attributes?: Record<string, unknown>;
  criticality?: number | null;
  business_service?: string | null;
  revenue_per_hour?: number | null;
  users_served?: number | null;
  lifecycle?: string | null;
  created_at?: string;
  updated_at?: string;
  last_seen?: string | null;
  [key: string]: unknown;
}

export interface AssetPage {
  assets: Asset[];
  total: number;
  limit: number;
  next_cursor?: string | null;
}

export interface AssetDetail {
  asset: Asset;
  dependencies: { type: string; target: string; origin: string }[];
  dependents: { type: string; source: string; origin: string }[];
  open_alerts: Pick<Alert, "alert_id" | "status" | "severity" | "event" | "resource" | "title" | "last_seen">[];
}

export interface GraphNode {
  asset_id: string;
  depth: number;
  name: string | null;
  type: string | null;
  lifecycle: string | null;
  criticality: number | null;
  business_service: string | null;
}

export interface Graph {
  nodes: GraphNode[];
  edges: { source: string; type: string; target: string }[];
  members?: string[];
  service?: string;
}

/** One business service of `GET /api/v1/services`. */
export interface ServiceSummary {
  name: string;
  assets: number;
  open_alerts: number;
  worst_severity: string | null;
}

export interface ServiceList {
  services: ServiceSummary[];
  total: number;
  limit: number;
  next_cursor?: string;
}

/** An endpoint's latest closed window in `GET /api/v1/apm/services`. */
export interface ApmEndpoint {
  endpoint: string;
  request_rate?: number;
  error_rate?: number;
  p95_ms?: number;
  at?: string;
}

export interface ApmMap {
  services: { asset_id: string; name: string; last_seen: string | null; endpoints: ApmEndpoint[] }[];
  databases: { asset_id: string; name: string; system: string | null; last_seen: string | null }[];
  edges: {
    source: string;
    source_name: string | null;
    target: string;
    target_name: string | null;
    target_type: string | null;
    type: string;
  }[];
}

export interface Point {
  t: string;
  avg: number | null;
  min: number | null;
  max: number | null;
  count: number;
}

export interface SeriesAnswer {
  asset: string;
  name: string;
  resolution: string;
  series: { labels: Record<string, string>; points: Point[] }[];
}

export interface LatestAnswer {
  asset: string;
  series: { name: string; labels: Record<string, string>; ts: string; value: number }[];
}

export interface Probe {
  ok: boolean;
  latency_ms?: number;
  error?: string;
}

export interface StageInstance {
  instance: string;
  state: string | null;
  reason: string | null;
  lag: number | null;
  records: number | null;
  dead_letters: number | null;
  // unreadable records the stage left to another stage to dead-letter (counted, not sent)
  skipped: number | null;
  last_progress_s: number | null;
}

export interface Health {
  status: string;
  problems: string[];
  checks?: Record<string, Probe>;
  stages?: Record<string, { ok: boolean; lag: number | null; instances: StageInstance[]; problems?: string[] }>;
}

export interface IncidentImpact {
  score: number;
  revenue_per_hour: number;
  users: number;
  services: { asset_id: string; name: string; revenue_per_hour: number; users_served: number }[];
  blast_radius: number;
  criticality: number;
  severity: string;
  duration_s: number;
  components: Record<string, number>;
  weights: Record<string, number>;
}

export interface RootCause {
  alert_id: string;
  asset_id: string;
  explains: number;
  of: number;
  evidence: string;
}

/** The root-cause model's verdict (docs/rca.md): `rca` of an incident. */
export interface RcaCandidate {
  asset_id: string;
  name: string;
  alert_id: string | null;
  event: string | null;
  probability: number;
}

export interface Rca {
  model: string;
  asset_id: string;
  name: string;
  alert_id: string | null;
  event: string | null;
  confidence: number;
  candidates: RcaCandidate[];
  explanation: string;
  reasons: string[];
  evidence: { feature: string; value: number; contribution: number }[];
  /** The forest's and the online model's parts of `confidence`; none before any feedback is learned. */
  blend?: { forest: number; online: number; weight: number; labels: number } | null;
}

/** An operator's confirmation or correction of the root cause (`rca_feedback`, oldest first). */
export interface RcaFeedback {
  actor: string;
  at: string;
  asset_id: string;
  alert_id: string | null;
  verdict: "confirm" | "correct";
  comment: string;
  model: string | null;
  model_asset_id: string | null;
  command_id: string;
}

export interface Incident {
  incident_id: string;
  status: string;
  title: string;
  severity: string;
  opened_at: string;
  updated_at: string;
  resolved_at: string | null;
  merged_into: string | null;
  members_total: number;
  members_open: number;
  alerts: number;
  assets: string[];
  root_asset_id: string | null;
  root_cause: RootCause | null;
  rca_asset_id: string | null;
  rca: Rca | null;
  impact_score: number;
  revenue_per_hour: number;
  impact: IncidentImpact | null;
  version: number;
}

export interface IncidentList {
  incidents: Incident[];
  total: number;
  limit: number;
  next_cursor?: string | null;
}

export interface IncidentMember {
  alert_id: string;
  episode: number;
  asset_id: string | null;
  source: string;
  event: string;
  resource: string;
  title: string;
  severity: string;
  status: string;
  opened_at: string;
  ended_at: string | null;
  joined_at: string;
  left_at: string | null;
  reason: string;
  arrival: string;
  linked_to: string | null;
  detail: string;
  impact: number;
  revenue_per_hour: number;
}

export interface IncidentDetail {
  incident: Incident;
  members: IncidentMember[];
  former_members: IncidentMember[];
  root_cause: RootCause | null;
  rca: Rca | null;
  rca_feedback: RcaFeedback[];
  impact: IncidentImpact | null;
  timeline: { version: number; kind: string; at: string; reason: string; status: string; alerts: number; impact_score: number }[];
}

export interface Ticket {
  ticket_id: string;
  number: string;
  type: string;
  title: string;
  description?: string;
  status: string;
  pending_reason: string | null;
  priority: string;
  impact: number;
  urgency: number;
  assignment_group: string | null;
  assignee: string | null;
  requester: string | null;
  services: string[];
  site: string | null;
  tags: string[];
  created_by: string;
  created_at: string;
  updated_at: string;
  resolved_at: string | null;
  closed_at: string | null;
  comments: number;
  sla_due_at: string | null;
  sla_breached_at: string | null;
  breached: boolean;
  version: number;
}

export interface TicketList {
  tickets: Ticket[];
  total: number;
  limit: number;
  next_cursor?: string | null;
}

export interface SlaReading {
  at: string;
  state: string;
  elapsed_s: number;
  elapsed_pct: number;
  left_s: number;
  due_at: string | null;
  breached: boolean;
  breached_at: string | null;
  summary: string;
}

export interface SlaTimer {
  kind: string;
  target_s: number;
  calendar: string;
  now: SlaReading | null;
}

export interface TicketDetail {
  ticket: Ticket;
  sla: SlaTimer[];
  comments: { version: number; at: string; actor: string; visibility: string; text: string }[];
  links: { kind: string; ref: string; at: string; by: string }[];
  history: {
    version: number;
    kind: string;
    at: string;
    actor: string;
    from_status: string | null;
    status: string;
    reason: string;
    sla: unknown;
  }[];
}

/** `GET /api/v1/tickets/groups`: the groups a ticket may be created with. */
export interface TicketGroups {
  default: string;
  groups: string[];
}

export interface TicketAnswer {
  status: "accepted" | "applied";
  command_id: string;
  ticket_id: string;
  number: string | null;
  ticket?: TicketDetail | null;
}

export interface Matcher {
  name: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

export interface Silence {
  silence_id: string;
  matchers: Matcher[];
  starts_at: string;
  ends_at: string;
  expired_at: string | null;
  comment: string;
  created_by: string;
  created_at: string;
  status: "pending" | "active" | "expired";
}

export interface SilenceList {
  silences: Silence[];
  total: number;
}

export interface MaintenanceWindow {
  window_id: string;
  title: string;
  mode: string;
  scope: Record<string, unknown>;
  schedule: Record<string, unknown>;
  created_by: string;
  created_at: string;
  cancelled_at: string | null;
  status: "pending" | "active" | "ended";
  starts_at: string | null;
  ends_at: string | null;
}

export interface WindowList {
  windows: MaintenanceWindow[];
  total: number;
}
