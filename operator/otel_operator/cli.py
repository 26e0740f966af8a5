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
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from otel_operator import __version__
from otel_operator.serving import DEFAULT_IDLE_TIMEOUT, MIN_IDLE_TIMEOUT

if TYPE_CHECKING:
    from otel_operator.reconcile.runner import OperatorOptions

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _idle_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds; e.g. 30") from None
    if value < MIN_IDLE_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text} s is too short for a client to send its request; e.g. 30")
    return value


def _connections(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of connections (0: the default cap)")
    return int(text)


def operator_options(args: argparse.Namespace) -> OperatorOptions:
    """`otel-operator run`'s arguments as OperatorOptions (the chart's tests use this too)."""
    from otel_operator.admission.runner import WebhookOptions
    from otel_operator.reconcile.runner import OperatorOptions
    from otel_operator.serving import ServerLimits

    return OperatorOptions(
        **_shaping(args),
        namespaces=tuple(args.namespace or ()),
        kubeconfig=args.kubeconfig,
        peering=args.peering,
        liveness=args.liveness,
        log_format=args.log_format,
        verbose=args.verbose,
        leader_election=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        metrics_addr=args.metrics_addr,
        http_limits=ServerLimits(args.http_idle_timeout, args.http_max_connections),
        webhooks=WebhookOptions(
            port=args.webhook_port,
            addr=args.webhook_addr,
            host=args.webhook_host,
            namespace=args.webhook_namespace,
            service=args.webhook_service,
            secret=args.webhook_secret,
            configuration=args.webhook_configuration,
            cert_dir=args.webhook_cert_dir,
            cert_manager=args.webhook_cert_manager,
        )
        if args.webhooks
        else None,
    )


class UsageError(Exception):
    """A bad flag value: reported in one line naming the flag, exit status 2."""


def _regexes(values: Sequence[str] | None, flag: str) -> tuple[str, ...]:
    for pattern in values or ():
        try:
            re.compile(pattern)
        except re.error as err:
            raise UsageError(f"{flag} {pattern!r}: not a regular expression: {err}") from err
    return tuple(values or ())


def _shaping(args: argparse.Namespace) -> dict[str, Any]:
    """The flags `run` and `render` share that shape what is built, checked (OperatorOptions' field names)."""
    from otel_operator.manifests import featuregates

    try:
        gates = featuregates.parse(args.feature_gates or ())
    except featuregates.GateError as err:
        raise UsageError(f"--feature-gates: {err}") from err
    return {
        "collector_image": args.collector_image,
        "allocator_image": args.target_allocator_image,
        "allocator_rbac": not args.no_allocator_rbac,
        "collector_rbac": not args.no_collector_rbac,
        "feature_gates": gates,
        "label_filters": _regexes(args.labels_filter, "--labels-filter"),
        "annotation_filters": _regexes(args.annotations_filter, "--annotations-filter"),
    }


def _warn_ignored_gates(command: str, args: argparse.Namespace) -> None:
    from otel_operator.manifests import featuregates

    for warning in featuregates.ignored(args.feature_gates or ()):
        print(f"otel-operator {command}: warning: {warning}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from otel_operator.reconcile.login import credentials_problem
    from otel_operator.reconcile.runner import configure_logging, run_operator

    opts = operator_options(args)
    _warn_ignored_gates("run", args)
    if problem := credentials_problem(opts.kubeconfig):  # once, and out: kopf would retry it forever
        print(f"otel-operator run: {problem}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(opts)
    from otel_operator.reconcile.leader import LeadershipLost

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_operator(opts))
    except LeadershipLost as err:  # another replica leads now; exit so this pod restarts as a candidate
        print(f"otel-operator run: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_allocator(args: argparse.Namespace) -> int:
    import dataclasses
    import os
    import signal

    from otel_operator.allocator.app import run_allocator
    from otel_operator.allocator.config import ConfigError, parse_flags, read_config
    from otel_operator.logs import configure_json_logging

    try:
        flags = parse_flags(args.flags)
        if args.config:
            flags = dataclasses.replace(flags, config_file=args.config)
        config = read_config(flags, os.environ)
    except ConfigError as err:
        print(f"otel-operator allocator: {err}", file=sys.stderr)
        return EXIT_USAGE
    configure_json_logging(zap_log_level(flags.zap) or args.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_allocator(config, stop)

    from otel_operator.allocator.app import TLSSetupError
    from otel_operator.reconcile.login import LoginError

    try:
        asyncio.run(main())
    except (TLSSetupError, OSError, LoginError) as err:  # a port in use, bad certificates, no credentials
        print(f"otel-operator allocator: {err}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


# zap's levels (names, or numbers: -1 debug ... 2 error) as the logging setup names them
_ZAP_LEVELS = {"debug": "debug", "-1": "debug", "info": "info", "0": "info", "warn": "warning", "1": "warning",
               "error": "error", "2": "error", "dpanic": "error", "panic": "error", "fatal": "error"}  # fmt: skip


def zap_log_level(zap: Sequence[tuple[str, str]]) -> str | None:
    """The level upstream's `--zap-log-level` asks for (the last one given); None when absent or not one zap knows
    (numbers below -1 are zap's finer debug levels: debug)."""
    for name, value in reversed(zap):
        if name == "zap-log-level":
            level = value.strip().lower()
            if level.lstrip("-").isdigit() and int(level) < -1:
                return "debug"
            return _ZAP_LEVELS.get(level)
    return None


class InputError(Exception):
    """A file that cannot be read or parsed: reported in one line, exit status 2."""


def load_documents(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Every mapping document of every YAML file, in order."""
    from otel_operator import yamlsafe

    docs: list[dict[str, Any]] = []
    for path in paths:
        try:
            loaded = [d for d in yamlsafe.safe_load_all(Path(path).read_text(encoding="utf-8")) if d is not None]
        except OSError as err:
            raise InputError(f"{path}: cannot read: {err.strerror or err}") from err
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: cannot read: not UTF-8 text ({err.reason} at byte {err.start})") from err
        except yaml.YAMLError as err:  # aliases past the budget included: one line, with the place
            raise InputError(f"{path}: cannot read: {yamlsafe.describe(err)}") from err
        for doc in loaded:
            if not isinstance(doc, dict):
                raise InputError(f"{path}: a document is not a mapping; expected a Kubernetes object")
            docs.append(doc)
    return docs


def cmd_render(args: argparse.Namespace) -> int:
    from otel_operator.api.conversion import is_v1alpha1_collector
    from otel_operator.api.validation import FieldError, describe
    from otel_operator.manifests import BuildOptions, build
    from otel_operator.manifests.build import ALLOCATOR_API, COLLECTOR_API
    from otel_operator.manifests.labels import DEFAULT_ANNOTATION_FILTERS, TARGET_ALLOCATOR_LABEL
    from otel_operator.manifests.text import documents

    shaping = _shaping(args)
    _warn_ignored_gates("render", args)
    options = BuildOptions(
        **{**shaping, "annotation_filters": (*DEFAULT_ANNOTATION_FILTERS, *shaping["annotation_filters"])}
    )
    resources = []
    problems: list[FieldError] = []
    for doc in load_documents([args.filename]):
        if is_v1alpha1_collector(doc):
            problems.append(FieldError(describe(doc), "apiVersion", _not_served(args.filename)))
            continue
        if (doc.get("apiVersion"), doc.get("kind")) not in (COLLECTOR_API, ALLOCATOR_API):
            continue
        meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
        given = meta.get("namespace")
        if given and args.namespace and given != args.namespace:
            problems.append(
                FieldError(describe(doc), "metadata.namespace", f'is "{given}", not "{args.namespace}" (-n); drop one')
            )
            continue
        resources.append({**doc, "metadata": {**meta, "namespace": given or args.namespace or "default"}})
    if not resources and not problems:
        print(f"otel-operator render: {args.filename}: no OpenTelemetryCollector or TargetAllocator", file=sys.stderr)
        return EXIT_PROBLEMS

    def linked_collector(allocator: dict[str, Any]) -> dict[str, Any] | None:
        meta = allocator["metadata"]
        return next(
            (
                r
                for r in resources
                if r["kind"] == COLLECTOR_API[1]
                and r["metadata"]["namespace"] == meta["namespace"]
                and ((r["metadata"].get("labels") or {}).get(TARGET_ALLOCATOR_LABEL) == meta.get("name"))
            ),
            None,
        )

    objects: list[dict[str, Any]] = []
    for resource in resources:
        collector = linked_collector(resource) if resource["kind"] == ALLOCATOR_API[1] else None
        result = build(resource, options, collector=collector)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        problems += result.problems
        objects += [*result.objects, *result.allocator_objects]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_PROBLEMS
    sys.stdout.write(documents(objects))
    return EXIT_OK


def _not_served(filename: str) -> str:
    return (
        "opentelemetry.io/v1alpha1 is deprecated: the cluster converts it through the operator's conversion webhook, "
        "but this command reads OpenTelemetryCollector as opentelemetry.io/v1beta1 only; convert the file with "
        f"`otel-operator check resources --convert {filename} > NEW.yaml` and use NEW.yaml"
    )


class _ManifestDumper(yaml.SafeDumper):
    """YAML for people: multi-line strings as `|` blocks, keys in their given order."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _str)


def cmd_check_resources(args: argparse.Namespace) -> int:
    from otel_operator.api.conversion import ConversionError, is_v1alpha1_collector, to_v1beta1
    from otel_operator.api.validation import FieldError, describe, resource_type, validate
    from otel_operator.manifests.labels import TARGET_ALLOCATOR_LABEL
    from otel_operator.manifests.validation import ALLOCATOR_API, COLLECTOR_API, review

    docs = load_documents(args.files)
    # a TargetAllocator is used when a collector in these files is labelled with its name (else: unknown)
    used = {
        (str(d.get("metadata", {}).get("namespace") or ""), str(label))
        for d in docs
        if isinstance(d.get("metadata"), dict)
        and (label := (d["metadata"].get("labels") or {}).get(TARGET_ALLOCATOR_LABEL))
    }

    def checked_by_review(doc: dict[str, Any], who: str | None = None) -> list[FieldError]:
        """The webhook's and the reconciler's review: errors returned (named `who` when given), warnings noted.
        prometheus-operator's kinds get their schema checked."""
        if (doc.get("apiVersion"), doc.get("kind")) not in (COLLECTOR_API, ALLOCATOR_API):
            return validate(doc)
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if not meta.get("namespace"):  # applied with `kubectl apply -n`: any namespace will do for the rules
            doc = {**doc, "metadata": {**meta, "namespace": "default"}}
        verdict = review(doc, has_collector=True if key in used else None)
        notes.extend(verdict.warnings)
        if who is None:
            return list(verdict.errors)
        return [FieldError(who, p.field, p.message) for p in verdict.errors]

    problems: list[FieldError] = []
    notes: list[str] = []
    converted: list[dict[str, Any]] = []
    checked = 0
    failed = False  # a resource that could not be converted: --convert prints nothing
    for doc in docs:
        if is_v1alpha1_collector(doc):
            checked += 1
            who = describe(doc)
            if not args.convert:
                problems.append(FieldError(who, "apiVersion", _not_served(" ".join(args.files))))
            try:
                result = to_v1beta1(doc)
            except ConversionError as err:
                problems.append(FieldError(who, err.field, err.message))
                failed = True
                continue
            notes += [f"{who}: {w}" for w in result.warnings]
            # the problems the converted resource still has, named in v1beta1's fields
            problems += checked_by_review(result.resource, f"{who} (as v1beta1)")
            converted.append(result.resource)
            continue
        converted.append(doc)
        if resource_type(str(doc.get("apiVersion")), str(doc.get("kind"))) is None:
            continue  # core objects (Services, Namespaces, ...) are the API server's to validate
        checked += 1
        found = checked_by_review(doc)
        problems += found
        if not found and not args.convert:
            print(f"ok: {describe(doc)}")
    # with --convert, stdout is the converted manifest only
    report = sys.stderr if args.convert else sys.stdout
    for note in notes:
        print(f"warning: {note}", file=report)
    for problem in problems:
        print(f"error: {problem}", file=report)
    print(f"{checked} checked, {len(problems)} problem(s)", file=report)
    if args.convert and not failed:
        sys.stdout.write(
            "".join(
                "---\n" + yaml.dump(doc, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True, width=120)
                for doc in converted
            )
        )
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_check_monitors(args: argparse.Namespace) -> int:
    from otel_operator.prom.monitors.generate import generate_from_documents
    from otel_operator.prom.monitors.options import GeneratorOptions

    options = GeneratorOptions(
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.evaluation_interval,
        deny_fs_access_through_sms=args.deny_fs_access_through_sms,
    )
    result = generate_from_documents(load_documents(args.files), options)
    sys.stdout.write(yaml.safe_dump({"scrape_configs": list(result.scrape_configs)}, sort_keys=False, width=120))
    for ignored in result.ignored:
        print(f"note: ignored {ignored} (not a monitor, Secret or ConfigMap)", file=sys.stderr)
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"{len(result.scrape_configs)} scrape config(s), {len(result.errors)} error(s)", file=sys.stderr)
    return EXIT_PROBLEMS if result.errors else EXIT_OK


def cmd_check_service_discovery(args: argparse.Namespace) -> int:
    from otel_operator import yamlsafe
    from otel_operator.prom.promconfig import PromConfigError, render_json, service_discovery

    try:
        text = Path(args.config).read_text(encoding="utf-8")
        yamlsafe.check_aliases(text)  # promconfig's loader has no alias budget of its own
    except OSError as err:
        raise InputError(f"{args.config}: cannot read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{args.config}: cannot read: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except yamlsafe.YamlLimitError as err:
        raise InputError(f"{args.config}: cannot read: {yamlsafe.describe(err)}") from err
    try:
        rendered = render_json(service_discovery(text, args.job))
        # piped: byte for byte what promtool prints, which ends without a newline; on a terminal, one more, so the
        # shell's prompt starts a line of its own
        sys.stdout.write(rendered + ("\n" if sys.stdout.isatty() else ""))
    except PromConfigError as err:
        print(f"error: {args.config}: {err}", file=sys.stderr)
        return EXIT_PROBLEMS
    except RecursionError:  # promconfig's loader has no depth limit either
        raise InputError(f"{args.config}: cannot read: YAML nested too deeply") from None
    return EXIT_OK


_FOCUS_KINDS = {"servicemonitor": "ServiceMonitor", "podmonitor": "PodMonitor", "service": "Service", "pod": "Pod"}


def cmd_diagnose(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    import aiohttp
    from kubernetes_asyncio.config.config_exception import ConfigException

    from otel_operator.diagnose import diagnose
    from otel_operator.diagnose.gather import gather, render_text
    from otel_operator.reconcile.kube import Kube, KubeError
    from otel_operator.reconcile.login import LoginError, api_client, credentials_problem

    focus = None
    for flag, kind in _FOCUS_KINDS.items():
        value = getattr(args, flag)
        if value is not None:
            namespace, _, name = value.partition("/")
            if not namespace or not name or "/" in name:
                print(f"otel-operator diagnose: --{flag} takes NAMESPACE/NAME, got {value!r}", file=sys.stderr)
                return EXIT_USAGE
            focus = f"{kind} {namespace}/{name}"
    namespace = args.namespace or (focus.partition(" ")[2].partition("/")[0] if focus else "default")

    if problem := credentials_problem(args.kubeconfig):
        print(f"otel-operator diagnose: cannot read the cluster: {problem}", file=sys.stderr)
        return EXIT_USAGE

    async def read() -> Any:
        api = await api_client(args.kubeconfig)
        async with api:
            return await gather(Kube(api), namespace)

    try:
        inputs = asyncio.run(read())
    except (KubeError, OSError, aiohttp.ClientError, TimeoutError, ConfigException, LoginError) as err:
        print(f"otel-operator diagnose: cannot read the cluster: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.allocator:
        from otel_operator.diagnose.gather import allocator_assignments

        try:
            assignments = asyncio.run(allocator_assignments(args.allocator))
        except (OSError, aiohttp.ClientError, TimeoutError, ValueError) as err:
            print(f"otel-operator diagnose: cannot ask the allocator at {args.allocator}: {err}", file=sys.stderr)
            return EXIT_USAGE
        inputs = dataclasses.replace(inputs, assignments=assignments)
    findings = diagnose(inputs, namespace, args.collector, focus)
    if args.output == "json":
        problems = [f for f in findings if not f.ok]
        print(json.dumps({"ok": not problems, "findings": [f.to_dict() for f in findings]}, indent=2))
    else:
        print(render_text(findings))
    return EXIT_PROBLEMS if any(not f.ok for f in findings) else EXIT_OK


class _Formatter(argparse.HelpFormatter):
    """Wraps paragraphs as usual, but keeps the lines of an indented block (the gate list) apart."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in text.split("\n\n"):
            if para.startswith("  "):
                out.append(
                    "\n".join(
                        textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent + "      ")
                        for line in para.splitlines()
                    )
                )
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def _gates_epilog() -> str:
    from otel_operator.manifests import featuregates

    return "feature gates (--feature-gates; stage, default):\n\n" + featuregates.help_text()


def _add_shaping_flags(parser: argparse.ArgumentParser, same: str = "") -> None:
    """Upstream's flags that shape what is built: `run` and `render` take the same ones."""
    parser.add_argument(
        "--no-collector-rbac",
        action="store_true",
        help=same
        or "do not create the ClusterRole and binding a collector's components need (k8sattributes, "
        "kubeletstats, ...); the collector then gets a warning naming the permissions to grant yourself",
    )
    parser.add_argument(
        "--feature-gates",
        action="append",
        metavar="GATES",
        help=same
        or "upstream's feature gates: comma-separated names, -name turns one off, name or +name on "
        "(repeatable; later ones win), e.g. --feature-gates=operator.targetallocator.fallbackstrategy,"
        "-operand.networkpolicy. Every gate of upstream 0.158 is accepted (listed below); an "
        "unknown one is an error",
    )
    parser.add_argument(
        "--labels-filter",
        action="append",
        metavar="REGEX",
        help=same
        or "resource labels matching this regular expression (anywhere in the key, as upstream matches "
        "it) are not copied to the objects built for it (repeatable), e.g. --labels-filter='.*filter\\.out$'",
    )
    parser.add_argument(
        "--annotations-filter",
        action="append",
        metavar="REGEX",
        help=same
        or "likewise for annotations (repeatable); these add to the ones always filtered: "
        "kubectl's last-applied-configuration and kopf's and otel-operator's own bookkeeping",
    )


def _add_webhook_flags(run: argparse.ArgumentParser) -> None:
    from otel_operator.admission import names

    hooks = run.add_argument_group(
        "admission webhooks",
        "Refuse a bad OpenTelemetryCollector or TargetAllocator at `kubectl apply` (with the message `check "
        "resources` prints), store the defaulted spec, and inject sidecars into pods annotated "
        f"{names.INJECT_ANNOTATION}. The chart installs the webhook configurations and passes these flags.",
    )
    hooks.add_argument("--webhooks", action="store_true", help="serve the admission webhooks")
    hooks.add_argument("--webhook-port", type=int, default=names.DEFAULT_PORT, metavar="PORT", help="HTTPS port")
    hooks.add_argument("--webhook-addr", metavar="ADDR", help="address to listen on (default: every interface)")
    hooks.add_argument(
        "--webhook-host",
        metavar="HOST",
        help="another name or IP the API server may call the webhooks by (added to the certificate), e.g. "
        "127.0.0.1 when the configurations use a URL",
    )
    hooks.add_argument(
        "--webhook-namespace",
        metavar="NS",
        help="namespace of the webhook Service and Secret (default: $POD_NAMESPACE, else default)",
    )
    hooks.add_argument(
        "--webhook-service",
        default=names.DEFAULT_SERVICE,
        metavar="NAME",
        help="the Service the API server calls (its DNS names go into the certificate)",
    )
    hooks.add_argument(
        "--webhook-secret",
        default=names.DEFAULT_SECRET,
        metavar="NAME",
        help="Secret holding the CA and the serving certificate, which the operator creates and renews",
    )
    hooks.add_argument(
        "--webhook-configuration",
        default=names.DEFAULT_CONFIGURATION,
        metavar="NAME",
        help="name of the ValidatingWebhookConfiguration and the MutatingWebhookConfiguration whose caBundle the "
        "operator keeps up to date",
    )
    hooks.add_argument(
        "--webhook-cert-dir",
        default="/tmp/k8s-webhook-server/serving-certs",
        metavar="DIR",
        help="where the serving certificate is written (tls.crt, tls.key, ca.crt), or read from with "
        "--webhook-cert-manager",
    )
    hooks.add_argument(
        "--webhook-cert-manager",
        action="store_true",
        help="cert-manager issues the certificate (its Secret mounted at --webhook-cert-dir) and injects the "
        "caBundle: the operator neither creates the Secret nor patches the configurations",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-operator",
        description="The OpenTelemetry operator for Kubernetes and its Prometheus target allocator.",
        epilog="`otel-operator COMMAND --help` tells more about each.\n"
        "examples:\n"
        "  otel-operator run --kubeconfig ~/.kube/config\n"
        "  otel-operator render -f examples/troubleshooting-guide.yaml\n"
        "  otel-operator diagnose -n opentelemetry",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"otel-operator {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, title="commands")

    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Reconcile OpenTelemetryCollector resources. Uses the in-cluster service account, or "
        "KUBECONFIG / ~/.kube/config outside a cluster.",
        epilog=_gates_epilog(),
        formatter_class=_Formatter,
    )
    run.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)"
    )
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        metavar="NS",
        help="watch only this namespace (repeatable; globs allowed); default: all namespaces",
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate several replicas through kopf peering NAME (default: standalone). Needs kopf's "
        "ClusterKopfPeering CRD and a peering object NAME in the cluster: without them kopf pauses all handling",
    )
    run.add_argument("--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8081/healthz")
    run.add_argument(
        "--log-format",
        choices=["plain", "full", "json"],
        default="plain",
        help="plain text, kopf's full format (with each object), or JSON (one object per line); default: plain",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log each event and patch")
    from otel_operator.manifests import DEFAULT_ALLOCATOR_IMAGE, DEFAULT_COLLECTOR_IMAGE

    run.add_argument(
        "--collector-image", default=DEFAULT_COLLECTOR_IMAGE, help="collector image when a resource names none"
    )
    run.add_argument(
        "--target-allocator-image",
        default=DEFAULT_ALLOCATOR_IMAGE,
        help="image that runs `otel-operator allocator` (this project's image)",
    )
    run.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on /metrics there, e.g. :8080 (reconciles, durations, writes, leadership)",
    )
    run.add_argument(
        "--http-idle-timeout",
        type=_idle_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="the health, metrics and webhook servers close a connection without a complete request within this long "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--http-max-connections",
        type=_connections,
        default=0,
        metavar="N",
        help="the health, metrics and webhook servers' connection cap (default 0: half the descriptor limit, at most "
        "4096)",
    )
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="run several replicas safely: only the holder of the Lease otel-operator reconciles, the others wait",
    )
    run.add_argument(
        "--leader-election-namespace",
        metavar="NS",
        help="namespace of the Lease (default: $POD_NAMESPACE, else default)",
    )
    run.add_argument(
        "--no-allocator-rbac",
        action="store_true",
        help="do not create the target allocator's ClusterRole and binding (manage RBAC yourself)",
    )
    _add_shaping_flags(run)
    _add_webhook_flags(run)
    run.set_defaults(func=cmd_run)

    allocator = sub.add_parser(
        "allocator",
        help="run the target allocator",
        description="Serve Prometheus scrape configs and each collector's share of the targets over the upstream "
        "Target Allocator HTTP API (/scrape_configs, /jobs, /jobs/<job>/targets?collector_id=..., /livez, /readyz, "
        "/metrics). The config file is upstream's targetallocator.yaml; every problem in it is reported before "
        "anything starts (exit status 2). Upstream's flags are accepted too, e.g. --listen-addr=:8080, "
        "--enable-prometheus-cr-watcher, --enable-https-server, --allow-insecure-auth-secrets. Without Kubernetes: "
        "set `collectors: [name, ...]` and static scrape_configs in the file.",
        epilog="example: otel-operator allocator --config examples/allocator-static.yaml",
    )
    allocator.add_argument(
        "--config", "--config-file", dest="config", help="allocator config file (default /conf/targetallocator.yaml)"
    )
    allocator.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="the least severe level logged, as JSON lines (default: info)",
    )
    allocator.add_argument("flags", nargs=argparse.REMAINDER, help="upstream flags (Go style, --name=value)")
    allocator.set_defaults(func=cmd_allocator)

    from otel_operator.manifests import DEFAULT_ALLOCATOR_IMAGE, DEFAULT_COLLECTOR_IMAGE

    render = sub.add_parser(
        "render",
        help="print the objects the operator would create",
        description="Print, as multi-document YAML, every object the operator would create for each "
        "OpenTelemetryCollector (v1beta1) and TargetAllocator (v1alpha1) in the file, without a cluster: the "
        "operator's own code path, without owner references. Other kinds in the file are skipped (a "
        "TargetAllocator takes its scrape configs from the collector labelled opentelemetry.io/target-allocator "
        "with its name, when the file has one). An OpenTelemetryCollector of apiVersion opentelemetry.io/v1alpha1 is a "
        "problem, as the cluster would refuse it (otel-operator serves v1beta1 only): convert the file first with "
        "`otel-operator check resources --convert FILE`. Problems and warnings go to stderr; when any resource has a "
        "problem nothing is printed. Exit status: 0 rendered, 1 problems (or nothing to render), 2 unreadable input "
        "or a bad flag.",
        epilog="example: otel-operator render -f examples/troubleshooting-guide.yaml\n\n" + _gates_epilog(),
        formatter_class=_Formatter,
    )
    render.add_argument("-f", "--filename", required=True, metavar="FILE", help="resource YAML (multi-document)")
    render.add_argument(
        "-n", "--namespace", help="namespace for resources that name none (default: default); must match those that do"
    )
    render.add_argument("--collector-image", default=DEFAULT_COLLECTOR_IMAGE, help="as for `run`")
    render.add_argument("--target-allocator-image", default=DEFAULT_ALLOCATOR_IMAGE, help="as for `run`")
    render.add_argument("--no-allocator-rbac", action="store_true", help="as for `run`")
    _add_shaping_flags(render, same="as for `run`")
    render.set_defaults(func=cmd_render)

    check = sub.add_parser("check", help="validate resources and configurations offline")
    checks = check.add_subparsers(dest="check", metavar="WHAT", required=True)
    resources = checks.add_parser(
        "resources",
        help="validate resources as the admission webhook does",
        description="Validate OpenTelemetryCollector, TargetAllocator and prometheus-operator resources as the "
        "API server and otel-operator's admission webhook would: the CRD schemas, then every rule the operator "
        "checks before it builds (modes, pipelines, ports, autoscaler, PDB, allocator settings, ...), naming each "
        "bad field and the fix; warnings are printed too. Other kinds are skipped. "
        "An OpenTelemetryCollector of apiVersion opentelemetry.io/v1alpha1 (upstream's deprecated version, whose "
        "config is a YAML string) is an error, as otel-operator serves v1beta1 only; it is converted as upstream's "
        "conversion webhook does, and the converted resource is checked too. With --convert, the files are "
        "printed instead, every v1alpha1 collector replaced by its v1beta1 form and every other document as it "
        "was (comments are not kept), and the report goes to stderr. "
        "Exit status: 0 valid, 1 problems found, 2 unreadable input.",
        epilog="example: otel-operator check resources --convert old.yaml > new.yaml",
    )
    resources.add_argument("files", nargs="+", metavar="FILE", help="YAML files (multi-document allowed)")
    resources.add_argument(
        "--convert",
        action="store_true",
        help="print the files as YAML with each opentelemetry.io/v1alpha1 OpenTelemetryCollector converted to "
        "v1beta1 (config parsed, minReplicas/maxReplicas folded into autoscaler, updateStrategy renamed "
        "daemonSetUpdateStrategy, monitor selector maps as matchLabels). Nothing is printed when a collector "
        "cannot be converted (its config is not YAML)",
    )
    resources.set_defaults(func=cmd_check_resources)
    monitors = checks.add_parser(
        "monitors",
        help="print the scrape_configs generated from prometheus-operator resources",
        description="Generate Prometheus scrape_configs from ServiceMonitor, PodMonitor, Probe and ScrapeConfig "
        "resources exactly as prometheus-operator (and the target allocator) would. Secrets and ConfigMaps they "
        "reference may be given in the same files. A bad monitor is reported and skipped; the rest are printed. "
        "Exit status: 0 all generated, 1 some monitors rejected, 2 unreadable input.",
    )
    monitors.add_argument("files", nargs="+", metavar="FILE", help="YAML files (multi-document and kind: List)")
    monitors.add_argument("--scrape-interval", default="30s", help="default scrape interval (prometheusCR's)")
    monitors.add_argument("--evaluation-interval", default="30s")
    monitors.add_argument(
        "--deny-fs-access-through-sms",
        action="store_true",
        help="reject ServiceMonitors that read files (bearerTokenFile, TLS *File)",
    )
    monitors.set_defaults(func=cmd_check_monitors)
    sd = checks.add_parser(
        "service-discovery",
        help="what Prometheus makes of a job's static targets (promtool's JSON)",
        description="Print, for one job of a Prometheus config file, each static target's discoveredLabels and its "
        "labels after relabeling ({} when dropped): the JSON `promtool check service-discovery CONFIG JOB` prints, "
        "computed by otel-operator's own relabeling. Exit status: 0 printed, 1 bad config or unknown job, 2 "
        "unreadable file.",
    )
    sd.add_argument("config", metavar="CONFIG", help="Prometheus configuration file")
    sd.add_argument("job", metavar="JOB", help="job_name of a scrape config in it")
    sd.set_defaults(func=cmd_check_service_discovery)

    diagnose = sub.add_parser(
        "diagnose",
        help="explain why a target is or is not scraped",
        description="Answer 'why isn't my target scraped?' from the cluster: is the allocator enabled, is "
        "prometheusCR enabled, is each ServiceMonitor/PodMonitor selected (and why not), which Services/Pods it "
        "matched and which not (label, namespace, port), which targets relabeling dropped and at which rule. Every "
        "problem comes with its fix. Exit status: 0 no problem, 1 a problem found, 2 bad usage or cluster unreachable.",
    )
    diagnose.add_argument("--collector", metavar="NAME", help="the OpenTelemetryCollector (default: every one in -n)")
    diagnose.add_argument("-n", "--namespace", metavar="NS", help="the collector's namespace (default: default)")
    about = diagnose.add_mutually_exclusive_group()
    for flag in ("servicemonitor", "podmonitor", "service", "pod"):
        about.add_argument(f"--{flag}", metavar="NS/NAME", help=f"ask about one {flag}")
    diagnose.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)"
    )
    diagnose.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    diagnose.add_argument(
        "--allocator",
        metavar="URL",
        help="the running allocator, to say which collector each kept target went to, e.g. after "
        "`kubectl port-forward svc/NAME-targetallocator 8080:80`: http://localhost:8080",
    )
    diagnose.set_defaults(func=cmd_diagnose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # `allocator` takes upstream's Go-style flags anywhere on its line, as the operator's Deployment (and a
    # TargetAllocator's spec.args) put them after --config: argparse's remainder only catches what follows the last
    # of its own options
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "allocator":
        args.flags = [*extra, *args.flags]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result: int = args.func(args)
    except InputError as err:
        print(f"otel-operator: {err}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as err:
        print(f"otel-operator {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    return result
