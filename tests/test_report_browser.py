"""A real browser opens report.html and compare.html: every table and chart is there and
the page makes no network request (Chromium's own NetLog is read to check)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
from fakes import debian_tool
from test_pipeline import write_study

from ptmcoder.pipeline import run_study
from ptmcoder.report import write_compare
from ptmcoder.report.compare import compare

CHROMIUM = debian_tool("chromium", "chromium", "chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed and `apt-get install -y chromium` failed",
)

#: Chromium's own requests (component updates, GCM check-in, sign-in, start-up
#: fetches), which vary with its version and start: any host under these Google domains.
#: The pages checked here never name one (their CSP allows no request, and the test
#: checks that their HTML names no such host), and the NetLog check still catches a
#: request to any other host (test_netlog_check_detects_a_request).
BROWSER_DOMAINS = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")


def browser_own(host: str) -> bool:
    return any(host == d or host.endswith("." + d) for d in BROWSER_DOMAINS)


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-pings",
]


def chromium(page: Path, tmp: Path, *extra: str) -> tuple[str, list[str]]:
    """Open ``page``; returns its DOM and every URL in Chromium's NetLog."""
    netlog = tmp / f"{page.stem}.netlog.json"
    out = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--log-net-log={netlog}",
            f"--user-data-dir={tmp / 'profile'}",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    urls = []
    events = json.loads(netlog.read_text())["events"]
    assert events, "Chromium wrote an empty NetLog"
    for event in events:
        url = event.get("params", {}).get("url")
        if url:
            urls.append(url)
    return out.stdout, urls


def page_requests(urls: list[str]) -> list[str]:
    found = []
    for url in urls:
        host = re.match(r"^[a-z]+://([^/:?]+)", url)
        if url.startswith(("file:", "data:")):
            continue
        if host and browser_own(host.group(1)):
            continue
        found.append(url)
    return found


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("browser-home")
    old = os.environ.get("PTMCODER_HOME")
    os.environ["PTMCODER_HOME"] = str(home)
    try:
        study = write_study(home / "s.toml", limit=40)
        result = run_study(study)
        files = write_compare(compare(result.run_dir, n_boot=50), home / "cmp")
    finally:
        if old is None:
            os.environ.pop("PTMCODER_HOME", None)
        else:
            os.environ["PTMCODER_HOME"] = old
    return result.report_html, files["compare_html"], home


def ids(html: str, tag: str) -> list[str]:
    return re.findall(rf'<{tag}[^>]*\bid="([^"]+)"', html)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["report", "compare"])
def test_page_in_chromium(pages, which, tmp_path):
    page = pages[0] if which == "report" else pages[1]
    source = page.read_text()
    dom, urls = chromium(page, tmp_path, "--dump-dom")
    # every table and chart of the rendered file is in the browser's DOM
    assert dom.count("<table") == source.count("<table") >= 5
    for table_id in ids(source, "table"):
        assert f'id="{table_id}"' in dom
    charts = ids(source, "figure")
    assert len(charts) >= 2
    for chart_id in charts:
        assert f'id="{chart_id}"' in dom
    images = re.findall(r'<img[^>]*src="([^"]+)"', dom)
    assert len(images) == len(charts)
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    if which == "report":
        for required in (
            "table-corpus",
            "table-annotators",
            "table-agreement",
            "table-tests",
            "table-reproduce",
        ):
            assert required in ids(dom, "table")
        # what the screenshot shows: the report's own stage done, no path of this machine
        stages = dom.split('id="table-stages"', 1)[1].split("</table>", 1)[0]
        report_row = re.search(r"<tr><td>report</td><td>([^<]*)</td>", stages)
        assert report_row and report_row.group(1) == "complete"
        assert "not run" not in stages
    text = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", dom))
    assert str(pages[2]) not in text and str(Path.cwd()) not in text
    for bad in ("{'", "None", "[]"):
        assert bad not in text, bad
    # no request left the page: no URL in Chromium's NetLog but its own background ones,
    # whose domains the page does not name
    assert page_requests(urls) == []
    named = re.findall(r"https?://([^/\"' )>]+)", source)
    assert not [h for h in named if browser_own(h)], named
    shot = tmp_path / f"{which}.png"
    chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_netlog_check_detects_a_request(tmp_path):
    """The NetLog check is not vacuous: a page with a remote image is caught."""
    page = tmp_path / "remote.html"
    page.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    _, urls = chromium(page, tmp_path, "--dump-dom")
    assert set(page_requests(urls)) == {"http://example.invalid/x.png"}
