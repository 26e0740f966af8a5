"""The allocator's web UI: server-rendered HTML pages over the in-memory model, for people (not for collectors).

Pages: `/` (collectors with their target counts, jobs with theirs, readiness), `/ui/jobs/<job>` (a job's targets:
address, collector, labels; `?collector=` narrows to one collector), `/ui/collectors/<name>` (a collector's targets,
per job) and `/ui/targets?q=` (search across jobs: `name=value` matches a label exactly, anything else is a
case-insensitive substring of any label value). Lists are paginated (`?page=N`, `PAGE_SIZE` rows a page).

Pure functions from the model to bytes: no I/O, no JavaScript, no external assets (inline CSS only), and every
piece of text that comes from the model or the request goes through `html.escape`. Cost per request: counting is
one pass over the targets concerned (no serialisation), rendering touches one page of rows; a page is bounded
whatever the model holds (long label values are cut for display).

Row order is the model's own order of a job's targets (discovery order), stable while the targets do not change;
a page link can therefore show different rows after a change, as any paginated live view does. Pages render on
the event loop while a flush may run in a worker thread; the model swaps a job's targets and the assignment as
whole dicts (never mutated in place), so iterating them is safe, but a page rendered mid-flush can pair a job's new
targets with the previous assignment (a new target then shows as unassigned until the next request).
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from otel_operator.allocator.model import AllocationModel, ServedTarget, jobs_link

PAGE_SIZE = 100
MAX_VALUE_CHARS = 200  # a label value longer than this is cut for display (annotations can be huge)
CONTENT_TYPE = "text/html; charset=utf-8"
# No script may run, nothing is fetched from elsewhere, the search form posts only here.
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page: HTTP status, the HTML, and the route template (the metrics label)."""

    status: int
    body: bytes
    route: str


# ----------------------------------------------------------------------------------------------- helpers


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def job_url(job: str, **query: str | int) -> str:
    return _with_query(f"/ui/jobs/{quote(job, safe='')}", query)


def collector_url(name: str, **query: str | int) -> str:
    return _with_query(f"/ui/collectors/{quote(name, safe='')}", query)


def search_url(q: str, **query: str | int) -> str:
    return _with_query("/ui/targets", {"q": q, **query})


def _with_query(path: str, query: Mapping[str, str | int]) -> str:
    kept = {k: v for k, v in query.items() if v not in ("", None) and not (k == "page" and v == 1)}
    return path + ("?" + urlencode(kept) if kept else "")


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1


def _cut(value: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return esc(value)
    return f'{esc(value[:MAX_VALUE_CHARS])}<span class="cut">… ({len(value)} chars)</span>'


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#24292f;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;font-weight:600}
header form{margin-left:auto;display:flex;gap:.4em}
header input[type=search]{width:28em;max-width:60vw;padding:.3em .5em;border:0;border-radius:4px}
main{padding:1em 1.2em;max-width:110em}
h1{font-size:1.35em;margin:.2em 0 .6em}
h2{font-size:1.1em;margin:1.4em 0 .5em}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:.8em}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#eef0f3;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.lbl{font-family:ui-monospace,monospace;font-size:12px}
.lbl{display:inline-block;background:#eef3fb;border-radius:3px;padding:0 .35em;margin:.1em .2em .1em 0;
word-break:break-all}
a.lbl{color:inherit;text-decoration:none}a.lbl:hover{background:#d6e4f7}
details summary{cursor:pointer;color:#57606a;font-size:12px}
.cut{color:#8c959f}
.bar{display:inline-block;height:.7em;background:#4c8bf5;border-radius:2px;vertical-align:middle}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.muted{color:#57606a}
nav.pages{margin:.6em 0;display:flex;gap:1em;align-items:center}
nav.pages .off{color:#8c959f}
footer{padding:1em 1.2em;color:#57606a;font-size:12px}
"""


def _document(title: str, content: str, q: str = "") -> bytes:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · target allocator</title><style>{_CSS}</style></head><body>"
        '<header><a href="/" id="home">Target allocator</a> <a href="/debug/diagnose" id="diagnose">Diagnose</a>'
        '<form method="get" action="/ui/targets" role="search" id="search">'
        f'<input type="search" name="q" value="{esc(q)}" placeholder="label=value, or text in any label value" '
        'aria-label="search targets"><button type="submit">Search</button></form></header>'
        f"<main>{content}</main>"
        '<footer>JSON API: <a href="/jobs">/jobs</a> · <a href="/scrape_configs">/scrape_configs</a> · '
        '<a href="/metrics">/metrics</a> · <a href="/readyz">/readyz</a></footer>'
        "</body></html>\n"
    ).encode()


def _labels(labels: Mapping[str, str]) -> str:
    """Target labels as chips that search for themselves; `__`-prefixed ones (meta, address) folded away."""
    shown, hidden = [], []
    for name in sorted(labels):
        value = labels[name]
        chip = f"{esc(name)}=&quot;{_cut(value)}&quot;"
        if name.startswith("__"):
            hidden.append(f'<span class="lbl">{chip}</span>')
        elif len(value) > MAX_VALUE_CHARS:  # a long value is not worth a long link
            shown.append(f'<span class="lbl">{chip}</span>')
        else:
            href = search_url(name + '="' + value + '"')
            shown.append(f'<a class="lbl" href="{esc(href)}">{chip}</a>')
    out = " ".join(shown)
    if hidden:
        noun = "label" if len(hidden) == 1 else "labels"
        out += f"<details><summary>{len(hidden)} internal {noun}</summary>{' '.join(hidden)}</details>"
    return out


def _collector_link(collector: str | None) -> str:
    if collector is None:
        return '<span class="bad">unassigned</span>'
    return f'<a href="{esc(collector_url(collector))}">{esc(collector)}</a>'


def _pager(total: int, page: int, url: Callable[[int], str]) -> str:
    """Navigation for `total` rows, `page` being the one shown (already clamped)."""
    pages = max(1, -(-total // PAGE_SIZE))
    first_row = (page - 1) * PAGE_SIZE + 1 if total else 0
    last_row = min(total, page * PAGE_SIZE)

    def link(label: str, target: int, rel: str) -> str:
        if target < 1 or target > pages or target == page:
            return f'<span class="off">{label}</span>'
        return f'<a href="{esc(url(target))}" rel="{rel}" class="{rel}">{label}</a>'

    return (
        '<nav class="pages">'
        + link("« first", 1, "first")
        + link("‹ previous", page - 1, "prev")
        + f'<span class="where">page {page} of {pages} · rows {first_row}–{last_row} of {total}</span>'
        + link("next ›", page + 1, "next")
        + link("last »", pages, "last")
        + "</nav>"
    )


def _clamp(page: int, total: int) -> int:
    return max(1, min(page, -(-total // PAGE_SIZE)))


def _one_page(rows: Iterable[tuple[str, ServedTarget]], page: int) -> list[tuple[str, ServedTarget]]:
    start = (page - 1) * PAGE_SIZE
    return list(itertools.islice(rows, start, start + PAGE_SIZE))


def _target_table(rows: list[tuple[str, ServedTarget]], assignment: Mapping[str, str | None], *, job: bool) -> str:
    head = "<th>job</th>" if job else ""
    out = [f'<table class="targets"><thead><tr>{head}<th>address</th><th>collector</th><th>labels</th></tr></thead>']
    out.append("<tbody>")
    for job_name, t in rows:
        cell = f'<td><a href="{esc(job_url(job_name))}">{esc(job_name)}</a></td>' if job else ""
        out.append(
            f'<tr class="target">{cell}<td><code class="addr">{esc(t.ref.address)}</code></td>'
            f"<td>{_collector_link(assignment.get(t.ref.key))}</td><td>{_labels(t.served_labels)}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _bar(count: int, most: int) -> str:
    width = round(100 * count / most) if most else 0
    return f'<span class="bar" style="width:{width * 1.5:.0f}px"></span>'


def not_found(message: str) -> Page:
    return Page(404, _document("not found", f'<h1>Not found</h1><p class="bad">{esc(message)}</p>'), "/ui/other")


# ----------------------------------------------------------------------------------------------- pages


def overview(model: AllocationModel, *, ready: bool, reason: str) -> Page:
    per, unassigned, total = model.load()
    discovered = model.discovered_counts()
    state = '<span class="ok">ready</span>' if ready else f'<span class="bad">not ready: {esc(reason)}</span>'
    out = [
        "<h1>Target allocator</h1>",
        f'<p id="status">{state} · strategy <code>{esc(model.strategy.name)}</code> · '
        f'<span id="total">{total}</span> targets in {len(model.job_names)} jobs, {len(model.collectors)} '
        f"collectors{f', <span class=bad>{unassigned} unassigned</span>' if unassigned else ''}</p>",
        "<h2>Collectors</h2>",
    ]
    if model.collectors:
        most = max(per.values(), default=0)
        out.append('<table id="collectors"><thead><tr><th>collector</th><th>node</th>')
        out.append('<th class="n">targets</th><th></th></tr></thead><tbody>')
        for c in model.collectors:
            n = per.get(c.name, 0)
            out.append(
                f'<tr><td><a href="{esc(collector_url(c.name))}">{esc(c.name)}</a></td>'
                f'<td>{esc(c.node or "—")}</td><td class="n">{n}</td><td>{_bar(n, most)}</td></tr>'
            )
        out.append("</tbody></table>")
    else:
        out.append('<p class="bad">No collectors: every target is unassigned until a collector appears.</p>')
    out.append("<h2>Jobs</h2>")
    if model.job_names:
        out.append('<table id="jobs"><thead><tr><th>job</th><th class="n">targets</th>')
        out.append('<th class="n">discovered</th><th>JSON</th></tr></thead><tbody>')
        for job in sorted(model.job_names):
            kept = len(model.targets(job))
            out.append(
                f'<tr><td><a href="{esc(job_url(job))}">{esc(job)}</a></td><td class="n">{kept}</td>'
                f'<td class="n">{discovered.get(job, 0)}</td>'
                f'<td><a class="muted" href="{esc(jobs_link(job))}">targets</a></td></tr>'
            )
        out.append("</tbody></table>")
        out.append(
            '<p class="muted">discovered: before the relabel rules; targets: kept after them (equal labels are one '
            "target).</p>"
        )
    else:
        out.append('<p class="muted">No jobs configured.</p>')
    return Page(200, _document("overview", "".join(out)), "/")


def job_page(model: AllocationModel, job: str, *, collector: str = "", page: int = 1) -> Page:
    if job not in model.job_names:
        return not_found(f"no job named {job!r}")
    targets = model.targets(job)
    assignment = model.assignment()
    per: dict[str | None, int] = {}
    for key in targets:
        owner = assignment.get(key)
        per[owner] = per.get(owner, 0) + 1
    rows: Iterator[tuple[str, ServedTarget]]
    if collector:
        total = per.get(collector, 0)
        rows = ((job, t) for key, t in targets.items() if assignment.get(key) == collector)
    else:
        total = len(targets)
        rows = ((job, t) for t in targets.values())
    page = _clamp(page, total)
    out = [f'<h1>Job <code id="job">{esc(job)}</code></h1>', '<p id="spread">']
    chips = [f'<a href="{esc(job_url(job))}">all: {len(targets)}</a>']
    for name, n in sorted(per.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        label = esc(name) if name is not None else "unassigned"
        chips.append(f'<a href="{esc(job_url(job, collector=name or ""))}">{label}: {n}</a>')
    out.append(" · ".join(chips) + "</p>")
    if collector:
        out.append(f'<p>Showing the targets of collector <code id="filter">{esc(collector)}</code> only.</p>')
    pager = _pager(total, page, lambda p: job_url(job, collector=collector, page=p))
    out += [pager, _target_table(_one_page(rows, page), assignment, job=False), pager]
    return Page(200, _document(f"job {job}", "".join(out)), "/ui/jobs/:job")


def collector_page(model: AllocationModel, name: str, *, page: int = 1) -> Page:
    if name not in {c.name for c in model.collectors}:
        known = ", ".join(c.name for c in model.collectors) or "none"
        return not_found(f"no collector named {name!r}; the collectors are: {known}")
    assignment = model.assignment()
    per_job: dict[str, int] = {}
    for job in model.job_names:
        n = sum(1 for key in model.targets(job) if assignment.get(key) == name)
        if n:
            per_job[job] = n
    total = sum(per_job.values())
    page = _clamp(page, total)
    rows = (
        (job, t)
        for job in model.job_names
        if job in per_job
        for key, t in model.targets(job).items()
        if assignment.get(key) == name
    )
    out = [f'<h1>Collector <code id="collector">{esc(name)}</code></h1>', f'<p><span id="total">{total}</span> targets']
    out.append(f" in {len(per_job)} jobs</p>")
    if per_job:
        out.append('<table id="per-job"><thead><tr><th>job</th><th class="n">targets</th><th>JSON</th></tr></thead>')
        out.append("<tbody>")
        for job in sorted(per_job):
            api = f"{jobs_link(job)}?collector_id={quote(name, safe='')}"
            out.append(
                f'<tr><td><a href="{esc(job_url(job, collector=name))}">{esc(job)}</a></td>'
                f'<td class="n">{per_job[job]}</td><td><a class="muted" href="{esc(api)}">as served</a></td></tr>'
            )
        out.append("</tbody></table>")
    pager = _pager(total, page, lambda p: collector_url(name, page=p))
    out += ["<h2>Targets</h2>", pager, _target_table(_one_page(rows, page), assignment, job=True), pager]
    return Page(200, _document(f"collector {name}", "".join(out)), "/ui/collectors/:name")


def matcher(q: str) -> Callable[[Mapping[str, str]], bool]:
    """`name=value` matches that label exactly (an absent label is empty, as in Prometheus; spaces around the value
    are ignored unless it is in double quotes); anything else matches a label value containing it, ignoring case."""
    name, sep, value = q.partition("=")
    name, value = name.strip(), value.strip()
    if sep and _LABEL_NAME.fullmatch(name):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        return lambda labels: labels.get(name, "") == value
    needle = q.strip().casefold()
    return lambda labels: any(needle in v.casefold() for v in labels.values())


def search_page(model: AllocationModel, q: str, *, page: int = 1) -> Page:
    q = q.strip()
    out = ["<h1>Search targets</h1>"]
    if not q:
        out.append(
            '<p class="muted">Type <code>name=value</code> to match a label exactly (e.g. <code>job=node</code>, '
            '<code>__meta_kubernetes_namespace="shop"</code>), or any text to find it in label values.</p>'
        )
        return Page(200, _document("search", "".join(out)), "/ui/targets")
    match = matcher(q)
    hits = [(job, t) for job in model.job_names for t in model.targets(job).values() if match(t.served_labels)]
    total = len(hits)
    page = _clamp(page, total)
    start = (page - 1) * PAGE_SIZE
    out.append(f'<p><span id="total">{total}</span> targets match <code id="query">{esc(q)}</code></p>')
    pager = _pager(total, page, lambda p: search_url(q, page=p))
    out += [pager, _target_table(hits[start : start + PAGE_SIZE], model.assignment(), job=True), pager]
    return Page(200, _document(f"search {q}", "".join(out), q), "/ui/targets")


# ----------------------------------------------------------------------------------------------- routing


def diagnosis_page(findings: Sequence[Mapping[str, Any]]) -> Page:
    """`/debug/diagnose` for a browser: every finding, problems first, each with its fix."""
    ordered = sorted(findings, key=lambda f: bool(f.get("ok")))
    problems = sum(1 for f in findings if not f.get("ok"))
    rows = []
    for f in ordered:
        mark = "&#10003;" if f.get("ok") else "&#10007;"
        fix = f"<br><small>fix: {esc(f['fix'])}</small>" if f.get("fix") else ""
        rows.append(f"<tr><td>{mark}</td><td>{esc(f.get('subject'))}</td><td>{esc(f.get('what'))}{fix}</td></tr>")
    summary = f"{problems} problem(s) found" if problems else "no problem found"
    content = (
        f'<h1>Diagnosis</h1><p>{esc(summary)} &middot; <a href="/debug/diagnose?format=json">JSON</a></p>'
        f"<table><tr><th></th><th>object</th><th>finding</th></tr>{''.join(rows)}</table>"
    )
    return Page(200, _document("Diagnosis", content), "/debug/diagnose")


def is_ui_path(path: str) -> bool:
    return path in ("/", "/ui", "/ui/") or path.startswith("/ui/")


def route(model: AllocationModel, path: str, query: Mapping[str, str], *, ready: bool, reason: str) -> Page | None:
    """The page for a raw request path (percent-escapes undecoded) and its decoded query, or None if the path is not
    the UI's. A job or collector name is everything after its prefix, percent-decoded (`+` stays a plus)."""
    if not is_ui_path(path):
        return None
    page = _page_number(query.get("page"))
    if path in ("/", "/ui", "/ui/"):
        return overview(model, ready=ready, reason=reason)
    if path.startswith("/ui/jobs/") and len(path) > len("/ui/jobs/"):
        job = unquote(path.removeprefix("/ui/jobs/"), errors="replace")
        return job_page(model, job, collector=query.get("collector", ""), page=page)
    if path.startswith("/ui/collectors/") and len(path) > len("/ui/collectors/"):
        return collector_page(model, unquote(path.removeprefix("/ui/collectors/"), errors="replace"), page=page)
    if path == "/ui/targets":
        return search_page(model, query.get("q", ""), page=page)
    return not_found(f"no page at {path}")
