"""The one settings object. Every value can be set by an `EMS_`-prefixed environment variable."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Literal, get_origin

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ems.collectors.snmp_thresholds import ThresholdRule
from ems.itsm.sla_config import CalendarConfig, PoliciesConfig, build_calendars, build_policies
from ems.ml.correlation.config import DEFAULT_DOWN_EVENTS, Rule
from ems.notify.config import ReceiverConfig, RouteConfig, check_routes
from ems.notify.escalation import PolicyConfig, check_escalations
from ems.notify.inhibit import InhibitRuleConfig, check_inhibit_rules
from ems.notify.oncall import ScheduleConfig, UserConfig, check_oncall
from ems.schemas.ticket import AutoPolicy, RouteRule


class Settings(BaseSettings):
    """Runtime configuration of every EMS process (worker, API, CLI tools)."""

    model_config = SettingsConfigDict(env_prefix="EMS_", frozen=True, extra="ignore")

    # Servers
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    database_url: SecretStr = Field(
        SecretStr("postgresql://ems@127.0.0.1:5432/ems"), description="PostgreSQL URL (libpq form)"
    )
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL")

    # Topics
    topic_prefix: str = Field("ems", description="Prefix of every topic name")
    partitions: int = Field(4, ge=1, description="Partitions of the keyed topics when we create them")
    replication_factor: int = Field(1, ge=1)

    # Faust worker
    app_id: str = Field("ems-pipeline", description="Faust application id (consumer group, changelogs)")
    worker_web_port: int = Field(6066, description="Port of the Faust worker's web server (0 = disabled)")
    table_store: str = Field("memory://", description="Faust table store URL (memory:// or rocksdb://)")
    faust_datadir: str | None = Field(
        None, description="Faust's data folder (tables on disk); default: ems-faust-<uid> in the temp folder"
    )
    broker_session_timeout: float = Field(10.0, gt=0, description="Consumer group session timeout (s)")
    broker_heartbeat_interval: float = Field(1.0, gt=0)
    broker_rebalance_timeout: float = Field(10.0, gt=0, description="Max time a rebalance may take (s)")
    kafka_idempotence: bool = Field(True, description="Idempotent producers (the Tansu broker lacks them)")
    faust_send_timeout: float = Field(
        604_800.0,
        gt=0,
        le=2_000_000,
        description="Seconds a Faust send may wait for Kafka before it is given up (a given-up alert "
        "change would be lost): by default a week, so an outage is waited out",
    )
    dedupe_batch_size: int = Field(
        64,
        ge=1,
        description="Max event-batch records folded at once (a batch waits no longer for being larger: "
        "EMS_DEDUPE_BATCH_WITHIN bounds the wait)",
    )
    stall_grace: float = Field(
        20.0, gt=0, description="Restart the worker when commits trail processing this long (s)"
    )
    dedupe_batch_within: float = Field(0.05, gt=0, description="Max wait to fill a dedupe batch (s)")
    dedupe_recent_ids: int = Field(
        128,
        ge=0,
        le=4096,
        description="Ids of the last N events/commands kept per alert: a retry carrying one is skipped",
    )

    # The garbage collector of `ems worker` processes (ems.streams.gc_tuning, docs/performance.md)
    gc_freeze: bool = Field(
        True, description="Freeze what is alive once the worker has started (gc.freeze): never walked again"
    )
    gc_threshold: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [50_000, 20, 50],
        max_length=3,
        description="Worker collector thresholds (gc.set_threshold: generation 0, 1, 2); [] keeps Python's",
    )

    # Bulk stages (aiokafka)
    batch_max_records: int = Field(5000, ge=1, description="Max records per getmany batch")
    events_per_record: int = Field(500, ge=1, le=5000, description="Events per EventBatch record")
    batch_timeout_ms: int = Field(100, ge=1, description="Max wait for a getmany batch (ms)")
    batch_gather_ms: int = Field(
        50,
        ge=0,
        le=1000,
        description="A batch under 200 records waits this long for more before it is processed, once the "
        "stage takes EMS_BATCH_GATHER_FROM records a second; 0: never (docs/performance.md: fewer "
        "transactions, commits and produce requests per observation at a steady load) (ms)",
    )
    batch_gather_from: int = Field(
        1000,
        ge=0,
        description="Records a second (over the last second) from which a stage's small batches gather "
        "(EMS_BATCH_GATHER_MS); below it they are processed at once; 0: always gather",
    )

    # Pipeline behaviour
    fingerprint_fields: dict[str, list[str]] = Field(
        default_factory=lambda: {"*": ["environment", "resource", "event", "asset_id"]},
        description="Event fields hashed into the alert fingerprint, per source ('*' = default)",
    )
    severity_order: list[str] = Field(
        default_factory=lambda: [
            "critical",
            "major",
            "minor",
            "warning",
            "indeterminate",
            "informational",
            "debug",
            "normal",
            "ok",
            "cleared",
        ],
        description="Severities from most to least severe",
    )
    clearing_severities: list[str] = Field(default_factory=lambda: ["normal", "ok", "cleared"])
    # Alert lifecycle
    correlate: list[list[str]] = Field(
        default_factory=lambda: [
            ["NodeDown", "NodeUp"],
            ["LinkDown", "LinkUp"],
            ["Device Unreachable", "Device Reachable"],
        ],
        description="Groups of event names that act on one alert per resource (e.g. NodeDown/NodeUp)",
    )
    alert_timeout: int = Field(
        86_400, ge=0, le=31_536_000, description="Alert timeout (s) with no repeat; 0 = never"
    )
    ack_timeout: int = Field(
        0, ge=0, le=31_536_000, description="Default auto-unack after this many seconds; 0 = never"
    )
    tick_interval: float = Field(
        5.0,
        ge=0,
        description="Seconds between clock ticks (alert timers, SLA sweep, heartbeat expiry, notification "
        "groups); 0 = none (tests drive them)",
    )
    max_payload_bytes: int = Field(256 * 1024, ge=1024, description="Largest accepted API request body")

    # Failures and health (streams/failures.py, streams/heartbeat.py, api/health.py)
    retry_cap: float = Field(5.0, gt=0, description="Longest backoff between retries of a paused stage (s)")
    db_connect_timeout: float = Field(3.0, gt=0, description="PostgreSQL connect timeout (s)")
    heartbeat_interval: float = Field(2.0, gt=0, description="Seconds between stage heartbeats in Redis")
    liveness_interval: float = Field(
        60.0,
        ge=0,
        le=28_800,
        description="Seconds between the heartbeats `ems worker` and the SNMP collector send about "
        "themselves (timeout: three intervals); 0 = none",
    )
    stuck_after: float = Field(
        60.0, gt=0, description="A stage with lag and no progress for this long is reported stuck (s)"
    )
    health_forget_after: float = Field(
        86_400.0, gt=0, description="A stage silent for this long is no longer expected by /health (s)"
    )
    health_expected_stages: list[str] = Field(
        default_factory=list,
        description="Stages /health requires even before they first report (default: those seen)",
    )

    # Self-monitoring (agents/selfmon.py, `ems worker --stages selfmon`; docs/reliability.md)
    selfmon_interval: float = Field(
        30.0, gt=0, le=3600, description="Seconds between the self-monitor's rounds of health readings"
    )
    selfmon_targets: list[str] = Field(
        default_factory=list,
        description="URLs the self-monitor polls each round, e.g. every API process's /health/live, or "
        "/health with EMS_SELFMON_API_KEY",
    )
    selfmon_api_key: SecretStr | None = Field(
        None, description="API key (read:health) the self-monitor sends to its targets, for /health"
    )
    selfmon_lag_threshold: int = Field(
        10_000, ge=0, description="A stage with more records waiting than this raises StageLagHigh"
    )

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_workers: int = Field(
        1, ge=1, le=64, description="Processes `ems api` serves its port with (`--workers`; one per core)"
    )
    api_backlog: int = Field(
        2048, ge=64, description="Connections the kernel queues for `ems api` before it accepts them"
    )
    api_max_head_bytes: int = Field(
        1 << 20,
        ge=16_384,
        description="Longest request line plus headers `ems api` reads, however split into packets (bytes)",
    )
    rate_limit_per_minute: int = Field(
        6000, ge=1, le=60_000_000, description="Requests per minute per API key (and its burst), in Redis"
    )
    api_write_timeout: float = Field(
        5.0, gt=0, description="A write not acknowledged by Kafka within this many seconds answers 503 (s)"
    )
    api_batch_bytes: int = Field(
        1_000_000,
        ge=16_384,
        le=100 * 1024 * 1024,
        description="Largest batch the API produces to one partition at a time; keep it under the raw "
        "topic's max.message.bytes (bytes)",
    )
    api_read_timeout: float = Field(
        3.0, gt=0, description="A read waits this long for a PostgreSQL connection, then answers 503 (s)"
    )
    api_statement_timeout: float = Field(
        15.0, gt=0, description="Longest a read query may run in PostgreSQL before it is cancelled (s)"
    )
    api_key_cache: float = Field(
        30.0,
        ge=0,
        le=300,
        description="An API key verified this recently is accepted again without a PostgreSQL lookup while "
        "no revocation notice arrived (docs/security.md); 0 looks every key up (s)",
    )
    idempotency_ttl: int = Field(
        86_400, ge=60, description="How long the API remembers an Idempotency-Key's first request (s)"
    )
    read_model_schema: str = Field("ems", description="PostgreSQL schema holding the read models")

    # Metrics store (projections/metrics.py, api/series.py, `ems metrics retention`): days kept per resolution
    metric_series_memo: int = Field(
        400_000,
        ge=1,
        description="Series ids the metrics projection remembers (~240 bytes each; 10,000 devices x 38)",
    )
    metric_rollup_grace_seconds: float = Field(
        60,
        ge=0,
        le=86_400,
        description="How late (event time) a sample may come and still be in its rollup buckets' first "
        "computation; later ones make their buckets recomputed (projections/metrics_rollup.py)",
    )
    metrics_retention_raw_days: int = Field(7, ge=1, description="Days of raw metric samples kept")
    metrics_retention_1m_days: int = Field(30, ge=1, description="Days of 1-minute metric rollups kept")
    metrics_retention_5m_days: int = Field(90, ge=1, description="Days of 5-minute metric rollups kept")
    metrics_retention_1h_days: int = Field(400, ge=1, description="Days of 1-hour metric rollups kept")
    # Alert queries (api/alert_routes.py): above this many matches the list's total is an estimate
    alerts_exact_total_limit: int = Field(
        10_000, ge=0, description="Count list totals exactly up to this many alerts, estimate above"
    )
    alerts_total_budget_ms: int = Field(
        20, ge=0, description="Time the list may spend counting its total before estimating (0: no limit)"
    )
    # Asset registry and topology (agents/assets*.py, api/assets.py)
    assets_seen_resolution: float = Field(
        300.0,
        ge=0,
        description="An unchanged rediscovery is published only when last_seen moves this far (s)",
    )
    assets_wait_max: float = Field(30.0, gt=0, description="Longest ?wait= an asset write may ask for (s)")
    assets_max_depth: int = Field(20, ge=1, le=100, description="Deepest upstream/downstream/graph traversal")
    # SNMP collector (ems.collectors): a config file, or targets + a v2c community for simple setups
    snmp_config_file: str | None = Field(None, description="YAML/JSON file: targets, credentials, schedules")
    snmp_targets: list[str] = Field(default_factory=list, description="host[:port] or CIDR, when no file")
    snmp_community: SecretStr = Field(SecretStr("public"), description="v2c community for snmp_targets")
    snmp_interval: float = Field(60.0, gt=0, description="Default poll interval (s)")
    snmp_concurrency: int = Field(100, ge=1, description="Devices polled at once")
    snmp_timeout: float = Field(1.0, gt=0, description="Seconds to wait for one SNMP answer")
    snmp_retries: int = Field(3, ge=0, description="Retries before a device is unreachable")
    # AWS collector (ems.collectors.aws_*): credentials and endpoints come from the standard AWS configuration
    aws_regions: list[str] = Field(
        default_factory=list, description="Regions to collect (JSON list); empty: the default region"
    )
    aws_profiles: list[str] = Field(
        default_factory=list, description="AWS profiles, one per account (JSON list); empty: default chain"
    )
    synthetic_reload_interval: float = Field(
        10.0, gt=0, description="Seconds between reads of the synthetic checks (docs/synthetic.md)"
    )
    synthetic_concurrency: int = Field(16, ge=1, description="Synthetic checks run at once")
    aws_interval: float = Field(60.0, gt=0, description="Seconds between collection rounds")
    aws_discovery_interval: float = Field(
        900.0, gt=0, description="An unchanged resource's discovery is re-sent this often (s)"
    )
    aws_metrics: bool = Field(True, description="Read CloudWatch metrics (GetMetricData) every round")
    aws_metrics_period: int = Field(60, ge=1, description="CloudWatch period of the metrics read (s)")
    aws_concurrency: int = Field(4, ge=1, description="Regions (x profiles) scanned at once")
    aws_retry_mode: Literal["standard", "adaptive", "legacy"] = Field(
        "adaptive", description="botocore retry mode"
    )
    aws_max_attempts: int = Field(5, ge=1, description="botocore total attempts per call")
    aws_throttle_retries: int = Field(5, ge=0, description="Our retries of a throttled call after botocore's")
    aws_timeout: float = Field(30.0, gt=0, description="Connect and read timeout of one AWS call (s)")
    aws_thresholds: list[ThresholdRule] = Field(
        default_factory=list, description="Threshold rules before the defaults (JSON list, as for SNMP)"
    )
    # APM lite (docs/apm.md): span windows and the High Response Time threshold
    apm_window_seconds: int = Field(60, ge=1, le=3600, description="Width of the APM metric windows (s)")
    apm_grace_seconds: int = Field(
        10, ge=0, le=3600, description="A window closes this long (event time) after its end"
    )
    apm_p95_threshold_ms: float = Field(
        1000.0, gt=0, description="P95 above this (ms) raises High Response Time on an endpoint"
    )
    apm_p95_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description='P95 thresholds (ms) per "<service> <endpoint>" or per "<service>"',
    )
    # Metric anomaly detection (docs/anomaly.md): the `anomaly` stage's river models and verdicts
    anomaly_threshold: float = Field(
        0.93, gt=0, le=1, description="A sample scoring at or above this (0..1) counts as anomalous"
    )
    anomaly_consecutive: int = Field(
        5, ge=1, le=1000, description="Anomalous samples in a row that raise MetricAnomaly (normal: clear)"
    )
    anomaly_warmup: int = Field(
        30, ge=2, le=100_000, description="Samples of a series before any verdict on it"
    )
    anomaly_window: int = Field(
        100, ge=10, le=100_000, description="Half-Space Trees window; a family scores after this many"
    )
    anomaly_adapt_after: int = Field(
        120, ge=2, le=1_000_000, description="Anomalous samples in a row after which the level is normal"
    )
    anomaly_replay_records: int = Field(
        20_000,
        ge=0,
        description="On each assignment, the records of ems.metrics before the committed offset replayed "
        "(without publishing) to rebuild the models",
    )
    # Authentication (api/security): users and API keys in PostgreSQL, sessions in Redis
    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 signing secret of the tokens (at least 32 bytes). Unset: a random one is made "
        "once and shared by the API processes through Redis; set it in production",
    )
    jwt_issuer: str = Field("ems", min_length=1, description="`iss` claim of the tokens")
    access_token_ttl: int = Field(28_800, ge=60, le=604_800, description="Access token lifetime (s)")
    refresh_token_ttl: int = Field(
        2_592_000, ge=300, le=31_536_000, description="Refresh token (session) lifetime without use (s)"
    )
    password_min_length: int = Field(12, ge=8, le=1024, description="Shortest password accepted")
    argon2_time_cost: int = Field(3, ge=1, le=100, description="argon2id iterations of a password hash")
    argon2_memory_cost: int = Field(65_536, ge=64, description="argon2id memory of a password hash (KiB)")
    argon2_parallelism: int = Field(4, ge=1, le=64, description="argon2id lanes of a password hash")
    argon2_concurrency: int = Field(2, ge=1, description="Password hashes computed at once per API process")
    cookie_secure: bool = Field(True, description="Session cookies only over HTTPS (false: plain-HTTP demos)")
    cookie_samesite: Literal["lax", "strict", "none"] = Field(
        "lax", description="SameSite of session cookies"
    )

    # API edge (api/ratelimit.py, api/ratepolicy.py, api/edge.py): rate limits (API keys:
    # rate_limit_per_minute above), client addresses behind proxies, CORS, security headers
    rate_limit_user_per_minute: int = Field(
        100, ge=1, le=60_000_000, description="Requests per minute per signed-in user (and its burst)"
    )
    rate_limit_anonymous_per_minute: int = Field(
        60, ge=1, le=60_000_000, description="Requests per minute per client address without credentials"
    )
    rate_limit_roles: dict[str, int] = Field(
        default_factory=dict, description='Per-minute limit by role, over the user/key default: {"ops": 600}'
    )
    rate_limit_routes: dict[str, int] = Field(
        default_factory=dict,
        description='Per-minute limit of a route per caller, counted apart: {"POST /api/v1/events": 12000} '
        "(added to the built-in 10/min of POST /api/v1/auth/login, which may be overridden here)",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) of the reverse proxies whose forwarding header is believed (none)",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        "x-forwarded-for", description="The one header the trusted proxies append the client address to"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port]) allowed cross-origin, with credentials",
    )
    content_security_policy: str = Field(
        "default-src 'self'; frame-ancestors 'none'", description="Content-Security-Policy ('' = none)"
    )
    hsts: bool = Field(False, description="Send Strict-Transport-Security (only behind HTTPS)")
    hsts_max_age: int = Field(31_536_000, ge=0, description="Strict-Transport-Security max-age (s)")
    # Operator console (api/ui.py, ui/): the web app the API serves at /
    ui_dir: str | None = Field(
        None, description="Folder of the console's build (default: ui/dist of the source tree)"
    )
    # Correlation into incidents (ems.ml.correlation, agents/correlate_worker.py): event-time windows
    # in seconds; the defaults are tuned on generated scenarios (docs/correlation.md)
    correlation_max_hops: int = Field(2, ge=0, le=10, description="Topology: alerting assets this close ...")
    correlation_link_window: float = Field(240.0, gt=0, description="... whose alerts started this close (s)")
    correlation_linger: float = Field(
        300.0, ge=0, description="An ended alert stays linkable (its incident reopenable) this long (s)"
    )
    correlation_split_after: float = Field(
        300.0, gt=0, description="Members still failing this long after the root resolved are split off (s)"
    )
    correlation_down_events: str = Field(
        DEFAULT_DOWN_EVENTS, description="Regex of event names meaning a device is down (the poller's path)"
    )
    correlation_rules: list[Rule] = Field(
        default_factory=list,
        description="Keep-style rules: [{name, match: {field: regex}, group_by, threshold, window_s}]",
    )
    correlation_dbscan_eps: float = Field(0.4, gt=0, le=1, description="DBSCAN eps (distances are 0-1)")
    correlation_dbscan_min_samples: int = Field(2, ge=2, description="DBSCAN min_samples")
    correlation_dbscan_window: float = Field(600.0, gt=0, description="DBSCAN's sliding window (s)")
    correlation_gather: float = Field(
        0.25, ge=0, le=5, description="Wait this long for more alert changes before deciding (s; 0 = never)"
    )
    correlation_flush_members: int = Field(
        2000, ge=1, description="Publish the decisions once this many memberships changed (bounds a record)"
    )
    # Root-cause ranking (docs/rca.md "Online model"): the online model learned from operator feedback
    rca_online: bool = Field(
        True, description="Blend the forest with an online model learned from root-cause feedback"
    )
    rca_online_k: float = Field(
        20.0, gt=0, description="The online model's weight is labels / (labels + k) ..."
    )
    rca_online_max_weight: float = Field(0.5, ge=0, le=1, description="... at most this")
    # Tickets (agents/tickets.py, docs/itsm.md): routing to assignment groups, the reopen window
    ticket_default_group: str = Field(
        "service-desk", min_length=1, description="Group of a ticket that no routing rule matches"
    )
    ticket_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Assignment groups and their members, picked round-robin"
    )
    ticket_routes: list[RouteRule] = Field(
        default_factory=list, description="Routing rules in order: [{group, types, services, sites, tags}]"
    )
    ticket_reopen_days: int = Field(7, ge=0, le=365, description="A resolved incident reopens this long")
    ticket_escalations: dict[str, str] = Field(
        default_factory=dict, description="Escalation chain: group -> the next level's group"
    )
    ticket_escalate_at: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        [90, 100], description="SLA thresholds (%, 100 = breach) that move a ticket one level up"
    )
    ticket_auto_policies: list[AutoPolicy] = Field(
        default_factory=list,
        description="Auto-ticketing policies, first match wins: [{name, severities, "
        "min_criticality, services, tags, type, priority | impact/urgency, group, on_clear}]",
    )
    ticket_auto_source: Literal["incidents", "alerts"] = Field(
        "incidents",
        description="What the auto-ticketing policies apply to: correlated incidents (ems.incidents) or, "
        "without the correlation stage, single alerts (ems.alerts)",
    )
    ticket_sla_policies: PoliciesConfig = Field(
        default_factory=dict,
        description="SLA targets by type and priority, replacing the defaults named: {incident: {P1: "
        "{response: 15m, resolution: 4h, calendar: 24x7}}} (docs/itsm.md)",
    )
    ticket_calendars: dict[str, CalendarConfig] = Field(
        default_factory=dict,
        description="Business calendars besides 24x7 and business: {name: {timezone, hours: "
        "{mon-fri: 09:00-17:00}, country, subdivision, closed_dates}}",
    )
    _sla: tuple = PrivateAttr(default=())  # (calendars, policies), built and checked when loaded

    # Notifications (agents/notify*.py, docs/noise.md): receivers, routing rules, SMTP, retries
    notify_receivers: list[ReceiverConfig] = Field(
        default_factory=list,
        description="[{name, type: webhook|slack|email, url, secret (webhook HMAC key), to: [addresses]}]",
    )
    notify_routes: list[RouteConfig] = Field(
        default_factory=list,
        description="In order, first match wins unless `continue`: [{matchers, receivers, continue}]",
    )
    notify_inhibit_rules: list[InhibitRuleConfig] = Field(
        default_factory=list,
        description="While a source alert fires, matching target alerts are not notified: "
        "[{id, source, target, equal}] (matchers as in routes)",
    )
    notify_users: list[UserConfig] = Field(
        default_factory=list, description="Who escalations reach: [{name, receivers: [receiver names]}]"
    )
    notify_schedules: list[ScheduleConfig] = Field(
        default_factory=list,
        description="On-call rotations: [{name, time_zone, rotation: [users], handoff, length, start, "
        "overrides: [{user, start, end}]}]",
    )
    notify_escalations: list[PolicyConfig] = Field(
        default_factory=list,
        description='Escalation policies: [{name, steps: [{notify: ["schedule:X", "user:Y", "receiver:Z"], '
        "wait}], repeat}]",
    )
    notify_smtp_host: str | None = Field(None, description="SMTP server of email receivers")
    notify_smtp_port: int = Field(25, ge=1, le=65535)
    notify_smtp_from: str = Field("ems@localhost", description="Sender address of notification emails")
    notify_smtp_username: str | None = None
    notify_smtp_password: SecretStr | None = None
    notify_smtp_starttls: bool = False
    notify_timeout: float = Field(10.0, gt=0, le=300, description="Per attempt: HTTP and SMTP timeout (s)")
    notify_max_attempts: int = Field(5, ge=1, le=100, description="Attempts per notification before failed")
    notify_backoff: float = Field(1.0, ge=0, le=3600, description="Wait after the first failed attempt (s)")
    notify_backoff_cap: float = Field(60.0, ge=0, le=86_400, description="Longest wait between attempts (s)")

    @model_validator(mode="after")
    def _notify_routes(self) -> Settings:
        check_routes(self.notify_routes, self.notify_receivers, self.notify_smtp_host)
        check_inhibit_rules(self.notify_inhibit_rules)
        receivers = [r.name for r in self.notify_receivers]
        check_oncall(self.notify_users, self.notify_schedules, receivers)
        check_escalations(
            self.notify_escalations, self.notify_routes, self.notify_users, self.notify_schedules, receivers
        )
        return self

    @model_validator(mode="after")
    def _anomaly(self) -> Settings:
        if self.anomaly_adapt_after <= self.anomaly_consecutive:
            raise ValueError(
                f"anomaly_adapt_after ({self.anomaly_adapt_after}) must be above anomaly_consecutive "
                f"({self.anomaly_consecutive}): a level becoming normal before it raises raises nothing"
            )
        return self

    @model_validator(mode="after")
    def _sla_config(self) -> Settings:
        calendars = build_calendars(self.ticket_calendars)  # SlaConfigError names the entry at fault
        self._sla = (calendars, build_policies(self.ticket_sla_policies, calendars))
        return self

    def sla_calendars(self) -> dict:
        """The SLA calendars by name: the defaults and EMS_TICKET_CALENDARS (ems.itsm.sla_config)."""
        return dict(self._sla[0])

    def sla_policies(self) -> tuple:
        """The SLA policies: the defaults with EMS_TICKET_SLA_POLICIES in place (ems.itsm.sla_config)."""
        return self._sla[1]

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip())
            except ValueError as exc:
                raise ValueError(
                    f"trusted proxy {item!r} is not a network (CIDR, e.g. 10.0.0.0/8): {exc}"
                ) from None
        return [item.strip() for item in value]

    @field_validator("selfmon_targets")
    @classmethod
    def _target_urls(cls, value: list[str]) -> list[str]:
        for item in value:
            if len(item.strip()) > 256 or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", item.strip()):
                raise ValueError(
                    f"self-monitor target {item[:300]!r} is not an http(s) URL of at most 256 characters "
                    "(it is its alerts' resource), e.g. http://api:8080/health"
                )
        return [item.strip() for item in value]

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.fullmatch(
                r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?", item
            ):
                raise ValueError(f"CORS origin {item!r} is not scheme://host[:port] (no path, no '*')")
        return [item.lower() for item in value]  # browsers send the scheme and host in lower case

    @field_validator("rate_limit_routes", "rate_limit_roles")
    @classmethod
    def _limits(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        for name, per_minute in value.items():
            if not 1 <= per_minute <= 60_000_000:
                raise ValueError(f"{name!r}: {per_minute} is not a per-minute limit within 1..60000000")
            if info.field_name == "rate_limit_routes" and not re.fullmatch(r"[A-Z]+ /\S*", name):
                raise ValueError(f"route {name!r} is not 'METHOD /path' (e.g. 'POST /api/v1/events')")
        return value

    @classmethod
    def of_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings the `EMS_*` variables of `env` give (what a child process started with `env`
        reads), e.g. for the processes a test or a benchmark spawns."""
        fields = {k[4:].lower(): v for k, v in env.items() if k.startswith("EMS_")}
        known = {k: v for k, v in fields.items() if k in cls.model_fields}
        for name, value in known.items():  # as the environment source does: lists and maps are JSON
            if get_origin(cls.model_fields[name].annotation) in (list, dict):
                try:
                    known[name] = json.loads(value)
                except ValueError as exc:
                    raise ValueError(f"EMS_{name.upper()}: not JSON: {exc}") from None
        return cls(**known)

    def topic(self, name: str) -> str:
        """Full topic name, e.g. topic('events') -> 'ems.events'."""
        return f"{self.topic_prefix}.{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
