"""`list` pages on a deployment with more DAGs than a page: only the page asked for is fetched,
in two API calls, and the Next/Previous buttons name the right offsets.

Airflow here is a scripted local server, so that any number of DAGs can be served.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.airflow import AirflowClient
from bot.config import parse_config
from bot.parser import Command
from bot.permissions import Access, Scope
from commands import Context
from commands import list as list_
from tests.conversation import visible_text
from tests.fake_http import FakeHTTPServer, Request, Response

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


def page(
    server: FakeHTTPServer, offset: int, dags: tuple[str, ...] | None = None
) -> tuple[str, dict[str, int]]:
    """The list at ``offset``: its text, and the offsets its Next/Previous buttons ask for."""
    config = parse_config('deployments: {prod: {url: "http://x.example.com", token: "${T}"}}',
                          {"T": "t"})  # fmt: skip
    scope = Scope("operator", VERBS, channels=None, deployments=None, dags=dags, via="you")
    client = AirflowClient(base_url=server.url, name="prod", token="t", api_version="v2")
    ctx = Context(
        command=Command(verb="list", deployment="prod"),
        user_id="U0ALICE",
        channel_id="C0OPS",
        config=config,
        access=Access("U0ALICE", (scope,)),
        client=client,
        page_offset=offset,
    )
    reply = list_.run(ctx)
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
