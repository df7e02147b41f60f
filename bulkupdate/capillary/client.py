"""Sending one batch: a POST through the :class:`~.transport.Transport`, and what
its reply means as an :class:`~bulkupdate.capillary.answers.Answer`. The pace and
the retries are the pipeline's; this module only sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..base.endpoint import UPDATE, Endpoint
from .answers import Answer, classify
from .auth import Auth
from .transport import AiohttpWire, Net, Transport, Wire

if TYPE_CHECKING:   # an annotation: settings builds on capillary's API facts
    from ..settings import Settings


def transport_for(settings: Settings, auth: Auth, wire: Wire | None = None) -> Transport:
    """The transport the settings of a run or a verify call for (``wire``: a
    stand-in for the network, in tests)."""
    net = Net(settings.timeout, settings.concurrency, settings.proxy, settings.ca_bundle)
    return Transport(settings.base_url, auth, wire or AiohttpWire(net),
                     settings.max_response_bytes)


Answered = Callable[[int | None, float], None]   # (HTTP status or None, seconds)


class Client:
    """``on_answer``: told each request's status and latency (the run's watch)."""

    def __init__(self, settings: Settings, auth: Auth, endpoint: Endpoint = UPDATE,
                 wire: Wire | None = None, *, on_answer: Answered | None = None) -> None:
        self.endpoint = endpoint
        self.transport = transport_for(settings, auth, wire)
        self._on_answer = on_answer

    async def __aenter__(self) -> Client:
        await self.transport.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.__aexit__(*exc)

    async def send(self, body: bytes, count: int) -> Answer:
        """POST one request of ``count`` records (a 401 under OAuth renews the
        token and tries once more before it counts as fatal: the transport's)."""
        started = time.monotonic()
        answer = await self._send(body, count)
        if self._on_answer is not None:
            self._on_answer(answer.status, time.monotonic() - started)
        return answer

    async def _send(self, body: bytes, count: int) -> Answer:
        reply = await self.transport.request("POST", self.endpoint.path, body=body)
        if reply.failure is not None:
            return reply.failure
        assert reply.status is not None
        return classify(reply.status, reply.body, count, reply.retry_after,
                        location=reply.location, endpoint=self.endpoint)
