"""The dashboard as a person uses it: a real headless Chromium against a real `triage serve`.

The service runs as a subprocess on a free loopback port, on models from a
real MLflow registry that carry reference profiles (as `triage train` writes
them), with a shadow challenger and a small terminated-case (终本) pair; a few
thousand synthetic cases go through ``/triage_batch`` and a few hundred
terminated ones through ``/follow_up`` first.  Chromium is Debian's (``/usr/bin/chromium``, which
``.ci/system-deps`` installs), driven by Playwright for Python; Playwright's
own browser downloads are never used.  Screenshots go to ``test-artifacts/``
at the repository root and to the test's temporary folder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing_system_package
from tests.serving.conftest import AUTH, KEY
from tests.serving.registry_fixture import register_champion_and_challenger, service_env
from tests.serving.test_e2e import Server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
N_CASES = 3000
N_TERMINATED = 400
CHARTS = (
    "chart-daily",
    "chart-courts",
    "chart-p-complex",
    "chart-p-assets",
    "chart-reasons-complex",
    "chart-reasons-assets",
    "chart-drift",
)
# Pixels of a chart's coloured marks (bars): saturated, unlike axes, grid lines and text.
COLOURED_PIXELS = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    const high = Math.max(data[i], data[i + 1], data[i + 2]);
    const low = Math.min(data[i], data[i + 1], data[i + 2]);
    if (data[i + 3] > 0 && high - low > 60) coloured += 1;
  }
  return coloured;
}"""


def _chromium() -> Path:
    """Debian's Chromium: found, or installed where we may; skipped only where it cannot be."""
    if not CHROMIUM.exists() and os.geteuid() == 0:
        subprocess.run(["bash", str(ROOT / ".ci" / "system-deps")], check=False, timeout=900)
    if not CHROMIUM.exists():
        missing_system_package(f"Debian's chromium ({CHROMIUM})")
    return CHROMIUM


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("dashboard-home")
    return service_env(home, tmp_path_factory.mktemp("dashboard-tmp"), KEY)


@pytest.fixture(scope="module")
def terminated(tmp_path_factory) -> Path:
    """Terminated cases as a court exports them, personal data included (the loader drops it)."""
    from features.synthetic.terminated import write_terminated

    path = tmp_path_factory.mktemp("dashboard-terminated") / "terminated.csv"
    write_terminated(N_TERMINATED, path, seed=33, with_pii=True)
    return path


def terminated_records(path: Path) -> list[dict]:
    """The file's cases as an API client sends them (record fields only: no personal data)."""
    from features.load import load_cases, records_from_frame
    from features.terminated import TERMINATED_RECORD

    return records_from_frame(load_cases(path, contract=TERMINATED_RECORD), TERMINATED_RECORD)


@pytest.fixture(scope="module")
def server(env, terminated, tmp_path_factory):
    """`triage serve` with profiled champions, a challenger and a terminated-case pair;
    3,000 decisions and 400 scored terminated cases logged."""
    register_champion_and_challenger(env, terminated=True)
    running = Server(env, tmp_path_factory.mktemp("dashboard-logs") / "serve.log")
    try:
        running.wait_ready()
        from features.load import records_from_frame
        from features.synthetic import generate_cases

        records = records_from_frame(generate_cases(N_CASES, seed=21).cases)
        for start in range(0, N_CASES, 1000):
            answer = httpx.post(
                f"{running.url}/triage_batch",
                json={"cases": records[start : start + 1000]},
                headers=AUTH,
                timeout=120,
            )
            assert answer.status_code == 200, answer.text[:2000]
        listed = httpx.post(
            f"{running.url}/follow_up",
            json={"cases": terminated_records(terminated), "budget": "5%"},
            headers=AUTH,
            timeout=120,
        )
        assert listed.status_code == 200, listed.text[:2000]
        yield running
    finally:
        running.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def browser():
    chromium = _chromium()
    from playwright.sync_api import sync_playwright  # a locked dev dependency

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Watched:
    """A page and what it said: console errors, uncaught exceptions, requests to /v1/stats."""

    def __init__(self, browser) -> None:
        # A court's browser: Chinese locale (date fields read 年/月/日).
        self.context = browser.new_context(
            viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[tuple[str, str | None]] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on(
            "request",
            lambda r: (
                self.requests.append((r.url, r.headers.get("authorization")))
                if "/v1/stats/" in r.url
                else None
            ),
        )

    def wait_loaded(self, loads: int) -> None:
        """Until the page has rendered its ``loads``-th refresh (no eval: the page's CSP)."""
        self.page.wait_for_selector(
            f'body[data-state="ready"][data-loads="{loads}"]', state="attached", timeout=60_000
        )

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def close(self) -> None:
        self.context.close()


def _screenshot(page, name: str, tmp_path: Path, record_property) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    (tmp_path / name).write_bytes(path.read_bytes())
    record_property(name, str(path))
    return path


def test_without_a_key_the_page_loads_and_shows_no_data(server, browser):
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{server.url}/dashboard")
    page.wait_for_selector('body[data-state="nokey"]', state="attached")
    assert page.is_visible("#key-panel") and not page.is_visible("#board")
    assert watched.requests == []  # nothing asked without a key
    page.fill("#key-input", "trg_not-a-valid-key")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-error:not([hidden])")
    assert "密钥无效" in watched.text("#key-error")
    assert not page.is_visible("#board")
    assert page.evaluate("() => sessionStorage.length") == 0
    assert watched.errors == [e for e in watched.errors if "401" in e]  # only the refused request
    watched.close()


def test_the_dashboard_shows_the_log_filters_and_speaks_both_languages(
    server, browser, tmp_path, record_property
):
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{server.url}/dashboard#key={KEY}")
    watched.wait_loaded(1)

    # The key left the address bar, lives in this tab only and goes in a header, never a URL.
    assert "#" not in page.url and KEY not in page.url
    assert page.evaluate("() => Object.values(sessionStorage)") == [KEY]
    assert page.evaluate("() => localStorage.getItem('triage.dashboard.key')") is None
    assert watched.requests and all(auth == f"Bearer {KEY}" for _, auth in watched.requests)
    assert not any(KEY in url for url, _ in watched.requests)

    # Totals are the log's; every chart has drawn coloured marks.
    summary = httpx.get(f"{server.url}/v1/stats/summary", headers=AUTH).json()
    assert summary["decisions"] == N_CASES
    assert watched.text("#kpi-decisions") == f"{N_CASES:,}"
    for chart in CHARTS:
        assert page.evaluate(COLOURED_PIXELS, chart) > 500, f"{chart} drew no data"
    assert page.locator("#cases tbody tr").count() == 12
    assert page.locator("#models tbody tr").count() == 2
    assert "v1 → v2" in watched.text("#challengers")
    drift = httpx.get(f"{server.url}/v1/stats/drift", headers=AUTH).json()
    assert drift["available"] and drift["n_cases"] == N_CASES
    assert f"正常 {drift['counts']['ok']}" in watched.text("#drift-counts")
    _screenshot(page, "dashboard-zh.png", tmp_path, record_property)

    # Ranking the risk table by p_complex asks for that table only, and shows its answer.
    riskiest = httpx.get(
        f"{server.url}/v1/stats/cases",
        params={"rank_by": "p_complex", "limit": 12},
        headers=AUTH,
    ).json()["cases"]
    asked = len(watched.requests)
    page.click("[data-rank=p_complex]")
    page.wait_for_selector('[data-rank=p_complex][aria-pressed="true"]', state="attached")
    shown = page.locator("#cases tbody tr td:first-child").all_inner_texts()
    assert shown == [case["case_id"] for case in riskiest]
    assert [url for url, _ in watched.requests[asked:]] == [
        url for url, _ in watched.requests[asked:] if "/v1/stats/cases?" in url
    ] and len(watched.requests) == asked + 1

    # A court filter changes the numbers to that court's.
    court = page.eval_on_selector("#f-court", "s => s.options[1].value")
    courts = httpx.get(
        f"{server.url}/v1/stats/streams/courts", params={"limit": 5000}, headers=AUTH
    ).json()
    expected = next(c["total"] for c in courts["courts"] if c["court_id"] == court)
    before = page.evaluate(COLOURED_PIXELS, "chart-daily")
    page.select_option("#f-court", court)
    watched.wait_loaded(2)
    assert watched.text("#kpi-decisions") == f"{expected:,}" != f"{N_CASES:,}"
    assert page.evaluate(COLOURED_PIXELS, "chart-daily") < before
    assert any(f"court_id={court}" in url for url, _ in watched.requests)
    rows = page.locator("#cases tbody tr td:nth-child(2)").all_inner_texts()
    assert rows and all(text.startswith(court) for text in rows)

    # The language switch changes the page's words and the contract's labels.
    assert watched.text("h1") == "执行案件繁简分流 · 监控面板"
    province_label = page.eval_on_selector("#f-province", "s => s.options[1].textContent")
    page.click("[data-lang=en]")
    assert watched.text("h1") == "Enforcement case triage · Dashboard"
    assert watched.text("#cases thead th:first-child") == "Case"
    english = page.eval_on_selector("#f-province", "s => s.options[1].textContent")
    assert (province_label, english) == ("11 北京", "11 Beijing")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    page.select_option("#f-court", "")
    watched.wait_loaded(3)
    _screenshot(page, "dashboard-en.png", tmp_path, record_property)

    assert watched.errors == []
    watched.close()


def _percent(share: float) -> str:
    """A share as the page writes it (``percent`` in app.js)."""
    return f"{100 * share:.1f}%"


def test_the_what_if_follows_the_capacity_and_each_courts_mix_is_against_its_policy(
    server, browser, tmp_path, record_property
):
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{server.url}/dashboard#key={KEY}")
    watched.wait_loaded(1)

    # The what-if starts at the policy's own capacity, with the curve drawn.
    tradeoff = httpx.get(f"{server.url}/v1/policy/tradeoff", headers=AUTH).json()
    assert tradeoff["available"], tradeoff["reason"]
    curve = {round(100 * point["capacity"]): point for point in tradeoff["curve"]}
    own = round(100 * tradeoff["current"]["max_review"])
    page.wait_for_selector(f'#whatif[data-capacity="{own}"]', state="attached")
    assert page.input_value("#w-capacity-number") == str(own)
    assert watched.text("#w-review") == _percent(curve[own]["share_review"])
    assert watched.text("#w-cost") == f"{curve[own]['expected_cost_days']:.3f}"
    assert tradeoff["policy"]["version"] == 0 and "全国默认（内置）" in watched.text("#w-policy")
    assert page.evaluate(COLOURED_PIXELS, "chart-tradeoff") > 500, "the curve drew nothing"

    # Another capacity, typed or slid, shows that capacity's routing without asking the server.
    asked = len(watched.requests)
    page.fill("#w-capacity-number", "5")
    page.wait_for_selector('#whatif[data-capacity="5"]', state="attached")
    assert watched.text("#w-review") == _percent(curve[5]["share_review"])
    assert watched.text("#w-review") != _percent(curve[own]["share_review"])
    assert watched.text("#w-cs") == _percent(curve[5]["complex_to_simple"])
    assert watched.text("#w-sc") == _percent(curve[5]["simple_to_complex"])
    assert bool(watched.text("#w-gave-way")) == bool(curve[5]["gave_way"])
    page.eval_on_selector(
        "#w-capacity", "el => { el.value = '40'; el.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_selector('#whatif[data-capacity="40"]', state="attached")
    assert watched.text("#w-review") == _percent(curve[40]["share_review"])
    assert page.input_value("#w-capacity-number") == "40"
    assert len(watched.requests) == asked
    _screenshot(page, "dashboard-whatif.png", tmp_path, record_property)

    # Each court's mix in the log against its policy's prediction.
    mix = httpx.get(
        f"{server.url}/v1/stats/streams/policy", params={"limit": 15}, headers=AUTH
    ).json()
    assert mix["available"] and mix["courts"]
    rows = page.locator("#policy-mix tbody tr")
    assert rows.count() == len(mix["courts"])
    first = mix["courts"][0]
    cells = rows.nth(0).locator("td").all_inner_texts()
    # No policy is set in this registry: the built-in default, named in the page's language.
    assert first["policy_label"] == "national (built-in default)"
    assert cells[0].startswith(first["court_id"]) and cells[1] == "全国默认（内置）"
    assert cells[3] == (
        f"{_percent(first['actual']['simple'])}（预测 {_percent(first['predicted']['simple'])}）"
    )

    page.click("[data-lang=en]")
    assert watched.text("#whatif h2") == "What if: review capacity"
    assert "predicted" in rows.nth(0).locator("td").nth(5).inner_text()
    assert rows.nth(0).locator("td").nth(1).inner_text() == "national (built-in default)"
    assert watched.errors == []
    watched.close()


def test_the_page_holds_no_copy_of_the_contract_labels():
    """Province and stream names reach the page from /v1/stats/labels only."""
    from features.record import PROVINCES
    from serving.stats import STREAM_LABELS

    folder = ROOT / "serving" / "static" / "dashboard"
    for name in ("app.js", "index.html"):
        text = (folder / name).read_text(encoding="utf-8")
        assert not [p.zh for p in PROVINCES if p.zh in text], name
        assert not [p.en for p in PROVINCES if f'"{p.en}"' in text], name
        for zh, _en in STREAM_LABELS.values():
            assert json.dumps(zh, ensure_ascii=False) not in text, (name, zh)
            assert f">{zh}<" not in text, (name, zh)


# --- 终本 follow-up: the endpoint against `triage follow-up`, and its page --------------------


def test_follow_up_gives_the_list_triage_follow_up_writes_and_keeps_no_personal_data(
    server, env, terminated, tmp_path
):
    import pandas as pd

    from models.follow_up import LEGAL_INQUIRY_NOTICE_ZH, OUTPUT_COLUMNS

    records = terminated_records(terminated)
    # One court's cases, budget a share: both of the command's selections at once.
    court = Counter(r["court_id"] for r in records).most_common(1)[0][0]
    body = {"cases": records, "budget": "50%", "court": court}
    answer = httpx.post(f"{server.url}/follow_up", json=body, headers=AUTH, timeout=120)
    assert answer.status_code == 200, answer.text[:2000]
    listed = answer.json()
    out = tmp_path / "list.csv"
    command = [sys.executable, "-m", "app.cli", "follow-up", "--data", str(terminated)]
    command += ["--budget", "50%", "--court", court, "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    numbers = ("rank", "expected_yuan", "p_resume", "expected_amount", "unpaid_amount")
    text = {c: str for c in OUTPUT_COLUMNS if c not in numbers}
    written = pd.read_csv(out, dtype=text, keep_default_na=False)
    served = pd.DataFrame(listed["follow_ups"], columns=list(OUTPUT_COLUMNS))
    inventory = sum(r["court_id"] == court for r in records)
    assert listed["inventory"] == inventory and len(written) == listed["budget"] > 1
    pd.testing.assert_frame_equal(served, written, check_exact=True, check_dtype=False)
    assert listed["legal_inquiry"]["zh"] == LEGAL_INQUIRY_NOTICE_ZH
    assert (listed["models"]["resume"]["name"], listed["models"]["recovery"]["name"]) == (
        "triage-resume",
        "triage-recovery",
    )
    # The file's personal data never reached the log (the API refuses it; none was sent).
    names = pd.read_csv(terminated, dtype=str)["respondent_name"].dropna().head(50)
    logged = (Path(env["TRIAGE_HOME"]) / "decisions.db").read_bytes()
    assert not [name for name in names if name.encode() in logged]


def _logged_inventory(env) -> dict[str, tuple]:
    """Each terminated case's latest score in the decision log, as the page must count it."""
    with sqlite3.connect(Path(env["TRIAGE_HOME"]) / "decisions.db") as connection:
        rows = connection.execute(
            "SELECT case_id, court_id, expected_yuan, unpaid_amount, terminated_date, "
            "reasons_zh, reasons_en, scored_at, score_id FROM follow_up_scores"
        ).fetchall()
    latest: dict[str, tuple] = {}
    for row in sorted(rows, key=lambda r: (r[7], r[8])):
        latest[row[0]] = row
    return latest


def _expected(cases: list[tuple], share: float) -> dict[str, object]:
    k = math.ceil(share * len(cases) - 1e-9)
    top = sorted(cases, key=lambda r: (-r[2], r[0]))[:k]
    oldest = sorted(cases, key=lambda r: (r[4], r[0]))[:k]
    return {
        "k": k,
        "top": top,
        "model": sum(r[2] for r in top),
        "random": k * sum(r[2] for r in cases) / len(cases),
        "oldest": sum(r[2] for r in oldest),
        "unpaid": sum(r[3] for r in cases),
    }


def _yuan(text: str) -> float:
    """A sum the page shows (``¥1,234.50``) as a number."""
    assert text.startswith("¥"), text
    return float(text[1:].replace(",", ""))


def test_the_follow_up_page_shows_the_logged_inventory_and_the_top_k(
    server, env, browser, tmp_path, record_property
):
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{server.url}/dashboard/follow-up#key={KEY}")
    watched.wait_loaded(1)
    assert KEY not in page.url
    inventory = list(_logged_inventory(env).values())
    assert len(inventory) == N_TERMINATED

    def shows(cases: list[tuple], share: float) -> None:
        expected = _expected(cases, share)
        assert watched.text("#kpi-inventory") == f"{len(cases):,}"
        assert watched.text("#kpi-k") == f"{expected['k']:,}"
        for selector, value in (
            ("#kpi-unpaid", expected["unpaid"]),
            ("#kpi-model", expected["model"]),
            ("#kpi-random", expected["random"]),
            ("#kpi-oldest", expected["oldest"]),
        ):
            assert abs(_yuan(watched.text(selector)) - value) < 0.011, selector
        listed = page.locator("#fu-list tbody tr td:nth-child(2)").all_inner_texts()
        assert listed == [r[0] for r in expected["top"]]

    # The default budget, 5 %: the list beats random and oldest-first on its own yuan.
    shows(inventory, 0.05)
    assert _yuan(watched.text("#kpi-model")) > _yuan(watched.text("#kpi-random"))
    assert page.evaluate(COLOURED_PIXELS, "chart-follow-up") > 200, "the chart drew nothing"
    assert "不替代" in watched.text("#notice") and "网络查控" in watched.text("#notice")
    first = _expected(inventory, 0.05)["top"][0]
    assert page.locator("#fu-list tbody tr").nth(0).locator("td").nth(8).inner_text() == first[5]
    _screenshot(page, "dashboard-follow-up-zh.png", tmp_path, record_property)

    # 10 % of the inventory, then one court's inventory only.
    page.click("[data-share='10']")
    watched.wait_loaded(2)
    shows(inventory, 0.10)
    court = Counter(r[1] for r in inventory).most_common(1)[0][0]
    page.select_option("#f-court", court)
    watched.wait_loaded(3)
    shows([r for r in inventory if r[1] == court], 0.10)

    page.click("[data-lang=en]")
    assert "never replaces" in watched.text("#notice")
    top = _expected([r for r in inventory if r[1] == court], 0.10)["top"][0]
    assert page.locator("#fu-list tbody tr").nth(0).locator("td").nth(8).inner_text() == top[6]
    _screenshot(page, "dashboard-follow-up-en.png", tmp_path, record_property)
    assert watched.errors == []
    watched.close()
