"""`otel-operator`: the one command-line entry point.

run         the operator (reconciles OpenTelemetryCollector resources)
allocator   the target allocator (serves scrape targets to collectors)
render      print the objects the operator would create for a resource
check       validate resources and configurations offline
diagnose    explain why a target is or is not scraped
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from otel_operator import __version__

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


def _not_built(what: str) -> Command:
    def command(_: argparse.Namespace) -> int:
        print(f"otel-operator: `{what}` is not built yet in this version ({__version__}).", file=sys.stderr)
        return EXIT_USAGE

    return command


def cmd_run(args: argparse.Namespace) -> int:
    from otel_operator.reconcile.runner import OperatorOptions, configure_logging, run_operator

    opts = OperatorOptions(
        namespaces=tuple(args.namespace or ()),
        kubeconfig=args.kubeconfig,
        peering=args.peering,
        liveness=args.liveness,
        log_format=args.log_format,
        verbose=args.verbose,
    )
    configure_logging(opts)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_operator(opts))
    return EXIT_OK


def cmd_check_resources(args: argparse.Namespace) -> int:
    from otel_operator.api.validation import FieldError, describe, resource_type, validate

    problems: list[FieldError] = []
    checked = 0
    for path in args.files:
        try:
            docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as err:
            print(f"{path}: cannot read: {err}", file=sys.stderr)
            return EXIT_USAGE
        for doc in docs:
            if not isinstance(doc, dict):
                print(f"{path}: a document is not a mapping; expected a Kubernetes object", file=sys.stderr)
                return EXIT_USAGE
            if resource_type(str(doc.get("apiVersion")), str(doc.get("kind"))) is None:
                continue  # core objects (Services, Namespaces, ...) are the API server's to validate
            checked += 1
            found = validate(doc)
            problems += found
            if not found:
                print(f"ok: {describe(doc)}")
    for problem in problems:
        print(f"error: {problem}")
    print(f"{checked} checked, {len(problems)} problem(s)")
    return EXIT_PROBLEMS if problems else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-operator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"otel-operator {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Reconcile OpenTelemetryCollector resources. Uses the in-cluster service account, or "
        "KUBECONFIG / ~/.kube/config outside a cluster.",
    )
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        metavar="NS",
        help="watch only this namespace (repeatable; globs allowed); default: all namespaces",
    )
    run.add_argument(
        "--peering", metavar="NAME", help="coordinate several replicas through kopf peering NAME (default: standalone)"
    )
    run.add_argument("--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8081/healthz")
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="plain")
    run.add_argument("-v", "--verbose", action="store_true", help="log each event and patch")
    run.set_defaults(func=cmd_run)

    allocator = sub.add_parser(
        "allocator",
        help="run the target allocator",
        description="Serve Prometheus targets to collectors (not built yet).",
    )
    allocator.add_argument("--config", default="/conf/targetallocator.yaml", help="allocator config file")
    allocator.set_defaults(func=_not_built("allocator"))

    render = sub.add_parser(
        "render",
        help="print the objects the operator would create",
        description="Render a resource into Kubernetes objects without a cluster (not built yet).",
    )
    render.add_argument("-f", "--filename", required=True, help="resource YAML")
    render.add_argument("-n", "--namespace", default="default")
    render.set_defaults(func=_not_built("render"))

    check = sub.add_parser("check", help="validate resources and configurations offline")
    checks = check.add_subparsers(dest="check", metavar="WHAT", required=True)
    resources = checks.add_parser(
        "resources",
        help="validate resources against otel-operator's CRD schemas",
        description="Validate OpenTelemetryCollector, TargetAllocator and prometheus-operator resources against "
        "the CRD schemas, as the API server would, naming each bad field. Other kinds are skipped. "
        "Exit status: 0 valid, 1 problems found, 2 unreadable input.",
    )
    resources.add_argument("files", nargs="+", metavar="FILE", help="YAML files (multi-document allowed)")
    resources.set_defaults(func=cmd_check_resources)
    for name in ("service-discovery", "monitors"):
        checks.add_parser(name, help=f"(not built yet) {name}").set_defaults(func=_not_built(f"check {name}"))

    diagnose = sub.add_parser(
        "diagnose",
        help="explain why a target is or is not scraped",
        description="Answer 'why isn't my target scraped?' (not built yet).",
    )
    diagnose.set_defaults(func=_not_built("diagnose"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
