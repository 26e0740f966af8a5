"""The web UI's pages as pure functions of the model: escaping, pagination, search, bounded pages at 100k targets."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from otel_operator.allocator import ui
from otel_operator.allocator.model import AllocationModel
from otel_operator.allocator.strategies import Collector, ConsistentHashing
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.targets import ScrapeSettings

HOSTILE = '<script>alert("x")</script>&"\'<img src=x onerror=alert(1)>'


def make_model(
    jobs: Mapping[str, Sequence[Mapping[str, str]]], collectors: Sequence[str] = ("collector-0", "collector-1")
) -> AllocationModel:
    m = AllocationModel(ConsistentHashing(), filtering=False)
    m.set_scrape_configs(ScrapeSettings.from_config({"job_name": job}) for job in jobs)
    m.set_collectors(Collector(name, f"node-{i}") for i, name in enumerate(collectors))
    for job, targets in jobs.items():
        m.update_group(job, TargetGroup("g", tuple(dict(t) for t in targets)))
    m.flush()
    return m


def numbered(n: int, prefix: str = "10.0", **labels: str) -> list[dict[str, str]]:
    return [
        {"__address__": f"{prefix}.{i // 256}.{i % 256}:9100", "pod": f"pod-{i}", "zone": f"z{i % 3}", **labels}
        for i in range(n)
    ]


class Parsed(HTMLParser):
    """Enough of the DOM for the assertions: rows, links, text, and any element that should never exist."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows = 0
        self.links: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        attr = dict(attrs)
        if tag == "tr" and attr.get("class") == "target":
            self.rows += 1
        if tag == "a" and attr.get("href"):
            self.links.append(str(attr["href"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def link(self, rel: str) -> str | None:
        found = re.search(rf'<a href="([^"]*)" rel="{rel}"', self.raw)
        return found.group(1).replace("&amp;", "&") if found else None

    def feed(self, data: str) -> None:
        self.raw = data
        super().feed(data)


def parse(page: ui.Page) -> Parsed:
    return Parsed(page.body.decode())


def page_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query).get("page", ["1"])[0])


# --------------------------------------------------------------------------------------------------- escaping


def test_hostile_label_values_job_and_collector_names_are_escaped_everywhere() -> None:
    job = "<b>job</b>&\"'"
    collector = "<i>c</i>"
    m = make_model({job: [{"__address__": "10.0.0.1:80", "evil": HOSTILE, "__meta_x": HOSTILE}]}, [collector])
    pages = [
        ui.overview(m, ready=False, reason=HOSTILE),
        ui.job_page(m, job),
        ui.collector_page(m, collector),
        ui.search_page(m, "evil"),
        ui.search_page(m, HOSTILE),
        ui.route(m, "/ui/nothing" + "%3Cscript%3E", {}, ready=True, reason=""),
        ui.job_page(m, HOSTILE),
    ]
    for page in pages:
        assert page is not None
        body = page.body.decode()
        assert "<script" not in body
        assert "<img" not in body
        assert "<b>" not in body
        assert "<i>" not in body
        parsed = parse(page)
        assert not {"script", "img", "b", "i", "iframe"} & set(parsed.tags)
        assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    # the text a person reads is the original, unescaped once by the browser
    assert HOSTILE in "".join(parse(ui.job_page(m, job)).text)
    assert job in "".join(parse(ui.overview(m, ready=True, reason="")).text)


def test_names_in_links_are_percent_escaped_and_route_back_to_the_same_page() -> None:
    job = "serviceMonitor/shop/web 1+x%?#"
    m = make_model({job: numbered(3)}, ["collector/0?"])
    overview = parse(ui.overview(m, ready=True, reason=""))
    (job_link,) = [link for link in overview.links if link.startswith("/ui/jobs/")]
    (collector_link,) = [link for link in overview.links if link.startswith("/ui/collectors/")]
    assert "/" not in job_link.removeprefix("/ui/jobs/")
    assert "?" not in job_link
    assert "#" not in job_link
    for link in (job_link, collector_link):
        page = ui.route(m, urlsplit(link).path, {}, ready=True, reason="")
        assert page is not None
        assert page.status == 200
    page = ui.route(m, job_link, {}, ready=True, reason="")
    assert page is not None
    assert f"Job {job}" in "".join(parse(page).text)


def test_the_pages_are_self_contained_html_without_scripts() -> None:
    m = make_model({"node": numbered(5)})
    for page in (ui.overview(m, ready=True, reason=""), ui.job_page(m, "node"), ui.search_page(m, "pod")):
        body = page.body.decode()
        assert body.startswith("<!DOCTYPE html>")
        assert "<script" not in body
        assert "<link" not in body
        assert not re.search(r'(src|href)="(https?:)?//', body)  # nothing from elsewhere
    assert "script-src" not in ui.HEADERS["Content-Security-Policy"]
    assert ui.HEADERS["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_huge_label_value_is_cut_for_display() -> None:
    m = make_model({"node": [{"__address__": "10.0.0.1:80", "blob": "x" * 100_000}]})
    body = ui.job_page(m, "node").body
    assert len(body) < 20_000
    assert b"(100000 chars)" in body


# --------------------------------------------------------------------------------------------------- overview


def test_overview_lists_collectors_with_their_counts_and_jobs_with_theirs() -> None:
    m = make_model({"node": numbered(30), "apps": numbered(7, prefix="10.1"), "empty": []})
    page = ui.overview(m, ready=True, reason="")
    assert (page.status, page.route) == (200, "/")
    body = page.body.decode()
    per, _, _ = m.load()
    assert sum(per.values()) == 37
    for name, n in per.items():
        assert re.search(rf">{name}</a></td><td>node-\d</td><td class=\"n\">{n}</td>", body)
    assert re.search(r'>node</a></td><td class="n">30</td>', body)
    assert re.search(r'>apps</a></td><td class="n">7</td>', body)
    assert re.search(r'>empty</a></td><td class="n">0</td>', body)  # a job without targets is worth seeing
    assert '<span class="ok">ready</span>' in body


def test_overview_says_why_it_is_not_ready_and_that_nothing_can_be_assigned_without_collectors() -> None:
    m = make_model({"node": numbered(2)}, [])
    body = ui.overview(m, ready=False, reason="waiting for the collectors watch").body.decode()
    assert "not ready: waiting for the collectors watch" in body
    assert "2 unassigned" in body
    assert "No collectors" in body


# --------------------------------------------------------------------------------------------------- pagination


@pytest.mark.parametrize(
    ("targets", "page", "rows", "shown_page", "pages"),
    [
        (0, 1, 0, 1, 1),
        (1, 1, 1, 1, 1),
        (100, 1, 100, 1, 1),
        (101, 1, 100, 1, 2),
        (101, 2, 1, 2, 2),
        (200, 2, 100, 2, 2),
        (250, 3, 50, 3, 3),
        (250, 99, 50, 3, 3),  # past the end: the last page
        (250, 0, 100, 1, 3),  # before the start: the first page
    ],
)
def test_job_pages_hold_at_most_a_page_of_rows(targets: int, page: int, rows: int, shown_page: int, pages: int) -> None:
    m = make_model({"node": numbered(targets)})
    parsed = parse(ui.job_page(m, "node", page=page))
    assert parsed.rows == rows
    assert f"page {shown_page} of {pages} " in "".join(parsed.text)
    nxt, prev = parsed.link("next"), parsed.link("prev")
    assert (nxt is not None) == (shown_page < pages)
    assert (prev is not None) == (shown_page > 1)
    if nxt:
        assert page_of(nxt) == shown_page + 1
    if prev:
        assert page_of(prev) == shown_page - 1


def test_paging_through_a_job_visits_every_target_once() -> None:
    m = make_model({"node": numbered(345)})
    seen: list[str] = []
    url: str | None = "/ui/jobs/node"
    while url is not None:
        split = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        page = ui.route(m, split.path, query, ready=True, reason="")
        assert page is not None
        seen += re.findall(r'<code class="addr">([^<]*)</code>', page.body.decode())
        url = parse(page).link("next")
    assert len(seen) == len(set(seen)) == 345


def test_page_parameter_garbage_is_the_first_page() -> None:
    m = make_model({"node": numbered(150)})
    for raw in ("x", "-3", "", "1.5"):
        page = ui.route(m, "/ui/jobs/node", {"page": raw}, ready=True, reason="")
        assert page is not None
        assert "page 1 of 2" in page.body.decode()


def test_a_job_page_narrowed_to_one_collector_counts_and_pages_only_its_targets() -> None:
    m = make_model({"node": numbered(300)})
    assignment = m.assignment()
    mine = [t.ref.address for key, t in m.targets("node").items() if assignment[key] == "collector-1"]
    body = ui.job_page(m, "node", collector="collector-1").body.decode()
    assert f"rows 1–{min(100, len(mine))} of {len(mine)}" in body
    shown = re.findall(r'<code class="addr">([^<]*)</code>', body)
    assert shown == mine[:100]
    assert 'collector-0">collector-0</a>' not in body.split("<tbody>", 1)[1]


def test_collector_page_lists_its_targets_per_job() -> None:
    m = make_model({"node": numbered(150), "apps": numbered(130, prefix="10.1")})
    assignment = m.assignment()
    expect = {job: sum(1 for k in m.targets(job) if assignment[k] == "collector-0") for job in ("node", "apps")}
    page = ui.collector_page(m, "collector-0")
    body = page.body.decode()
    assert (page.status, page.route) == (200, "/ui/collectors/:name")
    assert f'<span id="total">{sum(expect.values())}</span>' in body
    for job, n in expect.items():
        assert re.search(rf'>{job}</a></td><td class="n">{n}</td>', body)
    total = sum(expect.values())
    assert 100 < total < 200
    assert parse(page).rows == 100
    assert parse(ui.collector_page(m, "collector-0", page=2)).rows == total - 100


def test_unknown_job_collector_or_ui_path_is_a_404_page() -> None:
    m = make_model({"node": numbered(1)})
    for path in ("/ui/jobs/nope", "/ui/collectors/nope", "/ui/elsewhere"):
        page = ui.route(m, path, {}, ready=True, reason="")
        assert page is not None
        assert page.status == 404
        assert b"Not found" in page.body
    assert ui.route(m, "/jobs", {}, ready=True, reason="") is None
    assert ui.route(m, "/nope", {}, ready=True, reason="") is None


# --------------------------------------------------------------------------------------------------- search


def test_search_name_equals_value_is_exact_and_quotes_are_optional() -> None:
    m = make_model({"node": numbered(30), "apps": numbered(30, prefix="10.1", team="shop")})
    for q in ("pod=pod-1", 'pod="pod-1"', " pod = pod-1 "[1:]):
        page = ui.search_page(m, q)
        assert '<span id="total">2</span>' in page.body.decode(), q  # pod-1 in each job, not pod-10 .. pod-19
    assert '<span id="total">30</span>' in ui.search_page(m, "team=shop").body.decode()
    assert '<span id="total">30</span>' in ui.search_page(m, "team=").body.decode()  # absent is empty
    assert '<span id="total">0</span>' in ui.search_page(m, "team=sho").body.decode()


def test_search_free_text_is_a_case_insensitive_substring_of_any_label_value() -> None:
    m = make_model({"node": numbered(30), "apps": numbered(30, prefix="10.1", team="Shop-Front")})
    assert '<span id="total">22</span>' in ui.search_page(m, "pod-1").body.decode()  # pod-1, pod-10..19, both jobs
    assert '<span id="total">30</span>' in ui.search_page(m, "shop-f").body.decode()
    assert '<span id="total">1</span>' in ui.search_page(m, "10.1.0.7:").body.decode()  # the address is a label
    # not a label name before "=": free text
    assert '<span id="total">0</span>' in ui.search_page(m, "a-b=c").body.decode()


def test_search_results_are_paged_and_the_query_survives_the_page_links() -> None:
    m = make_model({"node": numbered(150), "apps": numbered(150, prefix="10.1")})
    page = ui.search_page(m, "zone=z1")
    parsed = parse(page)
    assert '<span id="total">100</span>' in page.body.decode()
    assert parsed.rows == 100
    assert parsed.link("next") is None
    page = ui.search_page(m, "pod-")
    nxt = parse(page).link("next")
    assert nxt is not None
    assert parse_qs(urlsplit(nxt).query) == {"q": ["pod-"], "page": ["2"]}
    assert parse(ui.search_page(m, "pod-", page=3)).rows == 100
    assert 'value="pod-"' in page.body.decode()  # the form shows the query


def test_label_chips_link_to_a_search_that_finds_the_target_again() -> None:
    m = make_model({"node": [{"__address__": "10.0.0.1:80", "team": 'a"b c&d'}, {"__address__": "10.0.0.2:80"}]})
    links = [link for link in parse(ui.job_page(m, "node")).links if link.startswith("/ui/targets")]
    assert len(links) == 1
    q = parse_qs(urlsplit(links[0]).query)["q"][0]
    assert '<span id="total">1</span>' in ui.search_page(m, q).body.decode()


def test_an_empty_search_explains_the_syntax() -> None:
    m = make_model({"node": numbered(3)})
    page = ui.route(m, "/ui/targets", {}, ready=True, reason="")
    assert page is not None
    assert page.status == 200
    assert b"name=value" in page.body
    assert parse(page).rows == 0


# --------------------------------------------------------------------------------------------------- scale


@pytest.fixture(scope="module")
def big() -> AllocationModel:
    """100k targets: 10 jobs x 10k, 5 collectors."""
    jobs = {f"job-{j}": numbered(10_000, prefix=f"10.{j}", job_no=str(j)) for j in range(10)}
    return make_model(jobs, [f"collector-{i}" for i in range(5)])


def test_every_page_of_a_100k_target_model_is_bounded(big: AllocationModel) -> None:
    assert sum(len(big.targets(j)) for j in big.job_names) == 100_000
    pages = {
        "overview": ui.overview(big, ready=True, reason=""),
        "job": ui.job_page(big, "job-3", page=57),
        "job, one collector": ui.job_page(big, "job-3", collector="collector-2", page=10),
        "collector": ui.collector_page(big, "collector-1", page=150),
        "search, exact": ui.search_page(big, "job_no=7"),
        "search, text": ui.search_page(big, "pod-99", page=2),
    }
    for what, page in pages.items():
        assert page.status == 200, what
        assert parse(page).rows <= ui.PAGE_SIZE, what
        assert len(page.body) < 120_000, what  # one page of rows, whatever the model holds
    assert "rows 5601–5700 of 10000" in pages["job"].body.decode()
    assert '<span id="total">10000</span>' in pages["search, exact"].body.decode()
    per, _, _ = big.load()
    assert f'<span id="total">{per["collector-1"]}</span>' in pages["collector"].body.decode()
