"""The `ems` command: one entry point for every process and tool."""

from __future__ import annotations

import argparse
import sys

from ems import assets_cli, deadletters_cli, eval_cli, metrics_cli, model_cli, users_cli
from ems.collectors import aws_cli, snmp_cli, synthetic_cli
from ems.logs import setup_logging
from ems.settings import get_settings


def _retrain(args: argparse.Namespace) -> int:
    if args.log:
        from ems.ml.rca.retrain import run as from_log

        return from_log(args)
    if args.publish:
        print("error: --publish goes with --log (the shipped model is not published)", file=sys.stderr)
        return 2
    from ems.ml.rca.train import DEFAULT_MODEL, VERSION, run

    args.out, args.version = args.out or DEFAULT_MODEL, args.version or VERSION
    return run(args)


def _worker(args: argparse.Namespace) -> int:
    if not args.no_supervise:
        from ems.supervise import supervise

        return supervise(["worker", "--stages", args.stages, "--no-supervise"])
    from ems.worker import run_worker

    run_worker(get_settings(), [s.strip() for s in args.stages.split(",") if s.strip()])
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    workers = args.workers or settings.api_workers
    options: dict = dict(
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level="info",
        access_log=False,
        # Forwarding headers are believed only from EMS_TRUSTED_PROXIES (ems.api.edge.client_address);
        # uvicorn's own default would believe any from loopback.
        proxy_headers=False,
        # h11 refuses a head still incomplete past this size, so its own 16 KiB default made a long
        # filter URL answered or reset depending on how the kernel split it into reads. (h11 named:
        # another parser, were one installed, would not read this bound.)
        http="h11",
        h11_max_incomplete_event_size=settings.api_max_head_bytes,
        backlog=settings.api_backlog,
        # How long a process may leave the supervisor's ping unanswered before it is killed and
        # replaced; uvicorn's 5 s killed processes still importing on a loaded host, over and over.
        timeout_worker_healthcheck=60,
    )
    if workers == 1:
        from ems.api.app import create_app

        uvicorn.run(create_app(settings), **options)
        return 0
    # N processes accept on the one socket this process binds; each builds its app from the
    # environment (the EMS_* settings) and restarts if it dies. Their /metrics are summed (api/metrics.py).
    from ems.api.metrics import multiprocess_metrics

    with multiprocess_metrics():
        uvicorn.run("ems.api.app:app_from_environment", factory=True, workers=workers, **options)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ems.replay import replay

    return replay(get_settings(), target=args.schema, swap=args.swap)


def _demo(args: argparse.Namespace) -> int:
    from ems.demo import run_demo

    return run_demo(data_dir=args.data_dir, api_port=args.port, once=args.once)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ems", description="EMS / AIOps event pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "worker",
        help="run pipeline stages (normalize, dedupe, projections, assets, correlate, tickets, "
        "suppressions, heartbeats, notify, apm; selfmon, the self-monitor, and anomaly run on their own)",
    )
    p.add_argument(
        "--stages",
        default="normalize,dedupe,projections,assets,correlate,tickets,suppressions,heartbeats,notify,apm",
        help="comma-separated stages to run in this process (default: all but selfmon and anomaly)",
    )
    p.add_argument(
        "--no-supervise",
        action="store_true",
        help="run the stages in this process, without the supervisor that restarts it on a stall",
    )
    p.set_defaults(fn=_worker)

    p = sub.add_parser("api", help="serve the HTTP API")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--workers",
        type=int,
        choices=range(1, 65),
        metavar="N",
        help="serve the port with N processes, one per core (default: EMS_API_WORKERS, 1)",
    )
    p.set_defaults(fn=_api)

    p = sub.add_parser("replay", help="rebuild the read models from offset 0 into fresh tables")
    p.add_argument("--schema", default=None, help="target schema (default: <read_model_schema>_rebuild)")
    p.add_argument(
        "--swap",
        action="store_true",
        help="swap the rebuilt schema in place of the live one (stop projection workers first)",
    )
    p.set_defaults(fn=_replay)

    p = sub.add_parser("demo", help="start the embedded stack, the pipeline and the API with sample data")
    p.add_argument("--data-dir", default=".ems-demo")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--once",
        action="store_true",
        help="non-interactive: exit 0 once the demo alerts are served, non-zero otherwise",
    )
    p.set_defaults(fn=_demo)
    p = sub.add_parser("retrain", help="train the root-cause model (docs/rca.md)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenarios", action="store_true", help="on generated scenarios")
    source.add_argument(
        "--log",
        action="store_true",
        help="on the event log: incidents labelled by operator feedback, a held-out split, a new file",
    )
    from ems.ml.rca import retrain, train  # no scikit-learn at import: it is loaded to fit

    train.add_arguments(p)
    # --out/--version: the shipped file and version for --scenarios, <model-dir>/<new version> for --log
    p.set_defaults(out=None, version=None)
    retrain.add_arguments(p)
    p.set_defaults(fn=_retrain)
    metrics_cli.register(sub)
    deadletters_cli.register(sub)
    assets_cli.register(sub)  # ems assets import
    eval_cli.register(sub)
    model_cli.register(sub)  # ems model list|publish|activate|rollback
    snmp_cli.register(sub)  # ems snmp discover|poll, ems collector snmp
    aws_cli.register(sub)  # ems aws discover, ems collector aws
    synthetic_cli.register(sub)  # ems collector synthetic
    users_cli.register(sub)  # ems users ..., ems keys ...
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
