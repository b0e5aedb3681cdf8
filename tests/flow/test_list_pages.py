"""`list` pages on a deployment with more DAGs than a page: only the page asked for is fetched,
in two API calls, and the Next/Previous buttons name the right offsets.

Airflow here is a scripted local server, so that any number of DAGs can be served.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.airflow import AirflowClient
from bot.config import parse_config
from bot.core.context import Context, PagePosition
from bot.core.parser import Command
from bot.core.permissions import Access, Scope
from bot.core.reply import Reply
from commands import REGISTRY
from commands import list as list_
from testkit.conversation import visible_text
from testkit.fake_http import FakeHTTPServer, Request, Response

VERB_FACTS = REGISTRY.facts()
DAG_COUNT = 45
VERBS = frozenset({"list", "status", "trigger", "pause", "unpause"})


@pytest.fixture
def server() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as srv:

        def dags(req: Request) -> Response:
            offset, limit = int(req.query["offset"][0]), int(req.query["limit"][0])
            ids = [f"dag_{n:03d}" for n in range(DAG_COUNT)][offset : offset + limit]
            body = [{"dag_id": i, "is_paused": False} for i in ids]
            return Response(200, {"dags": body, "total_entries": DAG_COUNT})

        srv.route("GET", "/api/v2/dags", dags)
        srv.route("POST", "/api/v2/dags/~/dagRuns/list", Response(200, {"dag_runs": []}))
        yield srv


def run_list(
    server: FakeHTTPServer, role: str, dags: tuple[str, ...] | None, position: PagePosition
) -> Reply:
    """``/airflow list prod`` at ``position``, by U0ALICE granted ``role`` on ``dags``."""
    config = parse_config('deployments: {prod: {url: "http://x.example.com", token: "${T}"}}',
                          {"T": "t"}, verbs=VERB_FACTS)  # fmt: skip
    scope = Scope(role, VERBS, channels=None, deployments=None, dags=dags, via="you")
    ctx = Context(
        command=Command(verb="list", deployment="prod"),
        user_id="U0ALICE",
        channel_id="C0OPS",
        config=config,
        verbs=REGISTRY,
        access=Access("U0ALICE", (scope,)),
        client=AirflowClient(base_url=server.url, name="prod", token="t", api_version="v2"),
        page=position,
    )
    return list_.run(ctx)


def page(
    server: FakeHTTPServer, offset: int, dags: tuple[str, ...] | None = None
) -> tuple[str, dict[str, int]]:
    """The list at ``offset``: its text, and the offsets its Next/Previous buttons ask for."""
    reply = run_list(server, "operator", dags, PagePosition(offset=offset))
    nav = {
        ("Next" if i.args["offset"] > offset else "Previous"): i.args["offset"]
        for i in reply.intents
        if i.verb == "page"
    }
    return visible_text({"blocks": reply.blocks}), nav


def test_each_page_is_fetched_alone_in_two_calls(server: FakeHTTPServer) -> None:
    first, nav = page(server, 0)
    assert "1-20 of 45" in first and "dag_000" in first and "dag_020" not in first
    assert nav == {"Next": 20}
    assert len(server.requests) == 2  # the page, and the last runs of its DAGs

    server.requests.clear()
    middle, nav = page(server, 20)
    assert "21-40 of 45" in middle and "dag_020" in middle and "dag_040" not in middle
    assert nav == {"Previous": 0, "Next": 40}
    assert len(server.requests) == 2
    assert server.requests[0].query["offset"] == ["20"]

    last, nav = page(server, 40)
    assert "41-45 of 45" in last and "dag_044" in last
    assert nav == {"Previous": 20}


def test_a_user_limited_to_some_dags_pages_through_only_those(server: FakeHTTPServer) -> None:
    text, nav = page(server, 0, dags=("dag_01*",))
    assert "dag_010" in text and "dag_019" in text and "dag_000" not in text
    assert "Only the DAGs your grants let you see are listed." in text
    assert nav == {}
    assert len(server.requests) == 2  # one full page of 100, filtered here: still one listing call


# -- a user limited to some DAGs, on a deployment with many more ---------------------------


def big_server(ids: list[str]) -> FakeHTTPServer:
    """Airflow's listing of ``ids``: sorted, paged, and ``dag_id_pattern`` as "contains"."""
    srv = FakeHTTPServer()

    def dags(req: Request) -> Response:
        offset, limit = int(req.query["offset"][0]), int(req.query["limit"][0])
        pattern = (req.query.get("dag_id_pattern") or [""])[0].lower()
        matching = sorted(i for i in ids if pattern in i.lower())
        body = [{"dag_id": i, "is_paused": False} for i in matching[offset : offset + limit]]
        return Response(200, {"dags": body, "total_entries": len(matching)})

    srv.route("GET", "/api/v2/dags", dags)
    srv.route("POST", "/api/v2/dags/~/dagRuns/list", Response(200, {"dag_runs": []}))
    return srv


def click(
    server: FakeHTTPServer, globs: tuple[str, ...], args: dict[str, Any] | None = None
) -> tuple[str, dict[str, dict[str, Any]]]:
    """The list a restricted user sees, first or after a click on a button whose args these
    are (as bot/slack/interactive.py reads them); its text and its Next/Previous buttons' args."""
    reply = run_list(server, "viewer", globs, PagePosition.from_args(args or {}))
    nav = {
        ("Next" if "Next" in label else "Previous"): i.args
        for i, label in zip(reply.intents, _labels(reply.blocks), strict=True)
        if i.verb == "page"
    }
    return visible_text({"blocks": reply.blocks}), nav


def _labels(blocks: list[dict[str, Any]]) -> list[str]:
    """The text of every button that carries an intent, in the order the intents were made."""
    return [
        str(e["text"]["text"])
        for b in blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if "value" in e
    ]


def listing_calls(server: FakeHTTPServer) -> list[Request]:
    return server.requests_to("GET", "/api/v2/dags")


def test_dags_that_sort_after_the_first_hundred_are_listed_in_two_calls() -> None:
    ids = [f"{team}_pipeline_{n:03d}" for team in ("ads", "hr", "ops", "sales") for n in range(100)]
    with big_server(ids) as server:
        first, nav = click(server, ("sales_*",))
        assert "1-20 of 100" in first
        assert "sales_pipeline_000" in first and "sales_pipeline_019" in first
        assert "ops_" not in first and "sales_pipeline_020" not in first
        # Airflow narrowed to the ids holding "sales_": one listing call, one for last runs.
        assert len(server.requests) == 2
        assert listing_calls(server)[0].query["dag_id_pattern"] == ["sales_"]

        server.requests.clear()
        second, nav2 = click(server, ("sales_*",), nav["Next"])
        assert "21-40 of 100" in second and "sales_pipeline_020" in second
        assert "sales_pipeline_019" not in second and "sales_pipeline_040" not in second
        assert len(server.requests) == 2

        back, _ = click(server, ("sales_*",), nav2["Previous"])
        assert "1-20 of 100" in back and "sales_pipeline_000" in back


def test_globs_with_nothing_in_common_look_through_the_listing_page_by_page() -> None:
    ids = [f"alpha_{n}" for n in range(5)] + [f"m_{n:03d}" for n in range(490)]
    ids += [f"zed{n:03d}" for n in range(30)]
    globs = ("alpha_*", "zed*")
    with big_server(ids) as server:
        first, nav = click(server, globs)
        assert "1-20 of 35" in first  # the last page read ended the listing: all are known
        assert "alpha_0" in first and "zed014" in first and "zed015" not in first
        assert "m_000" not in first
        assert [r.query["offset"][0] for r in listing_calls(server)] == [
            "0", "100", "200", "300", "400", "500"
        ]  # fmt: skip
        assert "dag_id_pattern" not in listing_calls(server)[0].query

        server.requests.clear()
        second, nav2 = click(server, globs, nav["Next"])
        assert "21-35 of 35" in second and "zed015" in second and "zed029" in second
        assert "Next" not in nav2
        assert len(listing_calls(server)) == 1  # it starts where the first page stopped

        back, nav3 = click(server, globs, nav2["Previous"])
        assert "1-20 of 35" in back and "alpha_0" in back
        assert "Previous" not in nav3


def test_a_page_that_looked_far_enough_says_so_and_next_looks_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(list_, "SCAN_CALLS", 2)
    ids = [f"alpha_{n}" for n in range(5)] + [f"m_{n:03d}" for n in range(490)]
    ids += [f"zed{n:03d}" for n in range(30)]
    with big_server(ids) as server:
        first, nav = click(server, ("alpha_*", "zed*"))
        assert "1-5 of up to 330" in first and "alpha_4" in first
        assert "Looked through 200 of 525 DAGs for yours" in first
        assert len(listing_calls(server)) == 2

        server.requests.clear()
        empty, nav2 = click(server, ("alpha_*", "zed*"), nav["Next"])
        assert (
            "none yet" in empty
            and "Looked through 400 of 525" in empty
            and "Next" in nav2
            and "Previous" in nav2
        )
        assert listing_calls(server)[0].query["offset"] == ["200"]

        found, _ = click(server, ("alpha_*", "zed*"), nav2["Next"])
        assert "6-25 of 35" in found and "zed000" in found


@pytest.mark.parametrize(
    ("globs", "shared"),
    [
        (("sales_*",), "sales_"),
        (("sales_eu_*", "sales_us_*"), "sales_"),
        (("*_daily", "etl_*_daily"), "_daily"),
        (("alpha_*", "zed*"), None),
        (("alpha_*", "omega_*"), "a_"),
        (("*",), None),
        (("[ab]?_x",), "_x"),
    ],
)
def test_the_listing_is_narrowed_by_what_every_glob_shares(
    globs: tuple[str, ...], shared: str | None
) -> None:
    assert list_._shared_literal(globs) == shared
