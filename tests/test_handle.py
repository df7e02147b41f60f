"""engine/handle.py: an API unreachable before any request of the run was
answered is named as a wrong --base-url; after answers, as an outage."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from bulkupdate.engine.handle import Handler, answered
from bulkupdate.errors import ApiUnreachable
from bulkupdate.settings import Rate

DOWN = ApiUnreachable("the API at http://127.0.0.1:9 could not be reached after 5 attempts "
                      "(refused); run 'bulkupdate resume' when it is back", lines=(1,))


def flow(now: dict[str, int], *earlier: dict[str, int]) -> Any:
    return SimpleNamespace(stats=SimpleNamespace(statuses=Counter(now)),
                           ledger=SimpleNamespace(manifest={"sessions": [
                               {"statuses": s} for s in earlier]}))


def test_no_answer_yet_in_any_session_is_not_answered() -> None:
    assert not answered(flow({"none": 5}))
    assert not answered(flow({}, {"none": 3}))
    assert answered(flow({"none": 5}, {"200": 1}))
    assert answered(flow({"503": 1}))


def test_the_message_says_check_base_url_only_before_any_answer() -> None:
    handler = Handler(flow({"none": 5}), None, None, Rate(1, 1),  # type: ignore[arg-type]
                      base_url="http://127.0.0.1:9")
    error = handler._unanswered(DOWN)
    assert str(error).startswith("nothing answers at http://127.0.0.1:9: check --base-url")
    assert "when it is back" not in str(error) and error.lines == (1,)
    handler.flow = flow({"none": 5, "200": 3})
    assert handler._unanswered(DOWN) is DOWN
