"""`ems worker`: one process running any of the pipeline stages.

Stages: `normalize` (aiokafka batches; with it, the alert command router), `dedupe` (Faust agent +
table: dedupe and the alert lifecycle; with it, the clock ticker for timers), `projections` (the
shared runner for the read models), `assets` (aiokafka: asset commands and discoveries -> the
asset registry on `ems.assets`), `correlate` (aiokafka: alert changes + assets -> incidents on
`ems.incidents`; one instance only: it needs every alert), `tickets` (aiokafka: `ticket.*` commands
and incidents -> `ems.tickets`; one instance only: it numbers every ticket; with it, the ticket
ticker for the SLA sweep), `suppressions` (aiokafka: `silence.*` and `window.*` commands ->
`ems.suppressions`; one instance only: it keeps them all), `heartbeats` (aiokafka: heartbeat
observations and the clock -> `ems.heartbeats` and HeartbeatMissing alert events; one instance only;
with it, the heartbeat ticker), `notify` (aiokafka: alert changes + suppressions -> notification
decisions on `ems.notifications`, and the sender that delivers them; one instance only), `apm`
(aiokafka: OTLP span batches -> per-endpoint metrics, High Response Time events and service
discoveries on the raw topic), `selfmon` (the self-monitor: health of the processes and stages ->
`self-monitoring` alert events on the raw topic; not among the defaults: run one, in a process of its
own), `anomaly` (aiokafka: metric samples -> MetricAnomaly events on the raw topic; not among the
defaults: ~40 µs of CPU a sample, docs/anomaly.md). All others by default; scale out by starting
more processes with a subset
(`--stages dedupe`), each stage's partitions are shared in its group.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import start_http_server

from ems.agents.alert_commands_worker import CommandRouter, Ticker
from ems.agents.anomaly_worker import AnomalyWorker
from ems.agents.apm_worker import ApmWorker
from ems.agents.assets_worker import AssetsWorker
from ems.agents.correlate_worker import CorrelateWorker
from ems.agents.heartbeats_worker import HeartbeatsWorker, HeartbeatTicker
from ems.agents.normalize_worker import NormalizeWorker
from ems.agents.notify_sender import NotifySender
from ems.agents.notify_worker import NotifyTicker, NotifyWorker
from ems.agents.selfmon_worker import SelfMonitorStage
from ems.agents.severity import SeverityPolicy
from ems.agents.suppressions_worker import SuppressionsWorker
from ems.agents.tickets_worker import TicketsWorker, TicketTicker
from ems.infra.migrate import migrate
from ems.logs import faust_logging_config
from ems.projections.alerts import AlertsProjection
from ems.projections.assets import AssetsProjection
from ems.projections.events import EventsProjection
from ems.projections.heartbeats import HeartbeatsProjection
from ems.projections.incidents import IncidentsProjection
from ems.projections.metrics import MetricsProjection
from ems.projections.metrics_rollup import RollupJob
from ems.projections.notifications import NotificationsProjection
from ems.projections.rca_feedback import RcaFeedbackProjection
from ems.projections.rca_models import RcaModelsProjection
from ems.projections.runner import ProjectionRunner
from ems.projections.suppressions import SuppressionsProjection
from ems.projections.synthetic_checks import SyntheticChecksProjection
from ems.projections.tickets import TicketsProjection
from ems.settings import Settings
from ems.streams.failures import Backoff, describe
from ems.streams.gc_tuning import tune_gc
from ems.streams.heartbeat import Heartbeat
from ems.streams.liveness import SelfBeat, worker_origin
from ems.streams.stage import Stage, keep_running
from ems.streams.topics import ensure_topics

log = logging.getLogger(__name__)
STAGES = (
    "normalize",
    "dedupe",
    "projections",
    "assets",
    "correlate",
    "tickets",
    "suppressions",
    "heartbeats",
    "notify",
    "apm",
    "selfmon",
    "anomaly",
)


def projections_for(settings: Settings) -> list:
    """Every projection of the read models, configured by the settings."""
    policy = SeverityPolicy.of(settings.severity_order, settings.clearing_severities)
    return [
        EventsProjection(),
        AlertsProjection(policy),
        MetricsProjection(
            settings.metric_series_memo,
            RollupJob(
                timedelta(seconds=settings.metric_rollup_grace_seconds),
                timedelta(days=settings.metrics_retention_raw_days),
            ),
        ),
        AssetsProjection(),
        IncidentsProjection(policy),
        TicketsProjection(),
        SuppressionsProjection(),
        HeartbeatsProjection(),
        NotificationsProjection(),
        SyntheticChecksProjection(),
        RcaFeedbackProjection(),
        RcaModelsProjection(),
    ]


def bulk_stages(settings: Settings, stages: Sequence[str]) -> list[Stage]:
    """The aiokafka-based stages (each has `run()` and `stop()`)."""
    out: list[Stage] = []
    if "normalize" in stages:
        out.extend([NormalizeWorker(settings), CommandRouter(settings)])
    if "dedupe" in stages and settings.tick_interval > 0:
        out.append(Ticker(settings))
    if "assets" in stages:
        out.append(AssetsWorker(settings))
    if "correlate" in stages:
        out.append(CorrelateWorker(settings))
    if "tickets" in stages:
        out.append(TicketsWorker(settings))
        if settings.tick_interval > 0:
            out.append(TicketTicker(settings))
    if "suppressions" in stages:
        out.append(SuppressionsWorker(settings))
    if "heartbeats" in stages:
        out.append(HeartbeatsWorker(settings))
        if settings.tick_interval > 0:
            out.append(HeartbeatTicker(settings))
    if "notify" in stages:
        out.extend([NotifyWorker(settings), NotifySender(settings)])
        if settings.tick_interval > 0:  # the clock of groups, escalation steps and muted alerts surfacing
            out.append(NotifyTicker(settings))
    if "apm" in stages:
        out.append(ApmWorker(settings))
    if "selfmon" in stages:
        out.append(SelfMonitorStage(settings))
    if "anomaly" in stages:
        out.append(AnomalyWorker(settings))
    if "projections" in stages:
        out.extend(ProjectionRunner(settings, p) for p in projections_for(settings))
    if settings.liveness_interval > 0:
        out.append(SelfBeat(settings, worker_origin(stages)))
    return out


def prepare(settings: Settings) -> None:
    """Create missing topics and apply missing migrations (idempotent, safe to race).

    While Kafka or PostgreSQL cannot be reached, wait with backoff: a worker started before its
    servers (or during an outage) starts once they answer instead of exiting.
    """
    backoff = Backoff(cap=settings.retry_cap)
    while True:
        try:
            asyncio.run(ensure_topics(settings, timeout=10))
            migrate(settings.database_url.get_secret_value(), settings.read_model_schema)
            return
        except Exception as exc:  # noqa: BLE001 - reported, retried
            delay = backoff.next_delay()
            log.warning("worker not started yet: %s; retrying in %.1f s", describe(exc), delay)
            time.sleep(delay)


def run_worker(settings: Settings, stages: Sequence[str]) -> None:
    """Run the given stages in this process until SIGINT/SIGTERM."""
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SystemExit(f"unknown stage(s): {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
    prepare(settings)
    bulk = bulk_stages(settings, stages)
    heartbeat = Heartbeat(settings)
    if "dedupe" in stages:
        _run_with_faust(settings, bulk, heartbeat)
    else:
        asyncio.run(_run_bulk_alone(bulk, heartbeat, settings))


async def _run_bulk_alone(bulk: list[Stage], heartbeat: Heartbeat, settings: Settings) -> None:
    if settings.worker_web_port:  # no Faust web server here: serve the Prometheus metrics on their own
        start_http_server(settings.worker_web_port, addr="127.0.0.1")
    tune_gc(settings)  # started: what is alive now lives as long as the process
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for stage in bulk:
            stage.stop()
        heartbeat.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(heartbeat.run(), *(keep_running(stage) for stage in bulk))


def _run_with_faust(settings: Settings, bulk: list[Stage], heartbeat: Heartbeat) -> None:
    import faust

    from ems.agents.dedupe_worker import register_dedupe
    from ems.streams.app import create_app

    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    register_dedupe(app, settings)

    @app.task
    async def run_bulk_stages() -> None:
        tune_gc(settings)  # Faust runs app tasks once it has started and recovered its tables
        # keep_running never lets a stage's failure out: a bulk stage restarts on its own and the
        # Faust agent keeps going. Only a stop (cancellation) ends them.
        await asyncio.gather(heartbeat.run(), *(keep_running(stage) for stage in bulk))

    faust.Worker(
        app,
        loglevel=logging.getLevelName(logging.getLogger().level or logging.INFO),
        logfile=None,
        redirect_stdouts=False,
        logging_config=faust_logging_config(),
    ).execute_from_commandline()
