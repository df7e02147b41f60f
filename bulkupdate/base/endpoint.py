"""An endpoint is a value: where a request goes and the names its body and its
answer use. The update API is :data:`UPDATE`; the Link Customer API
(``bulkupdate link``) is :data:`LINK` — a new value, not a copy of the client, the batcher,
:func:`~bulkupdate.capillary.answers.classify` or the mapping of outcomes.

Both answer with the request's shape: a list under the body key, one item per
customer (``customer``), each with its per-program results under the programs
key and a boolean ``status`` object under the status key. The delink API
(:data:`DELINK`) may also answer in an ``alternate`` shape (a copy of the update
API's sample), and may answer fewer customers than were sent
(``short_answers``: docs/delink.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .api import (
    DELINK_BODY_KEY,
    DELINK_ENDPOINT,
    DELINK_PROGRAMS_KEY,
    DELINK_SAMPLE_KEYS,
    DELINK_STATUS_KEY,
    ENDPOINT,
    LINK_BODY_KEY,
    LINK_ENDPOINT,
    LINK_PROGRAMS_KEY,
    LINK_STATUS_KEY,
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str                  # under --base-url
    body_key: str              # the list of customers, in the request and the answer
    customer_key: str          # the customer, in each item
    programs_key: str          # the per-program entries, in each item
    status_key: str            # each program result's {status, code, message}
    has_update_type: bool      # program results carry ``updateType`` (else matched by name)
    # Other documented answer shapes: (body key, programs key, status key) each.
    alternates: tuple[tuple[str, str, str], ...] = ()
    # An answer may hold fewer customers than were sent (a server without batch
    # support): the run goes on one customer a request.
    short_answers: bool = False

    def prefix(self) -> bytes:
        """The request body up to its first item: bodies are joined from records'
        bytes without re-serialising (:func:`~bulkupdate.engine.scheduler.chunk_bodies`)."""
        return b'{"' + self.body_key.encode() + b'":['

    def answer_keys(self) -> tuple[tuple[str, str, str], ...]:
        """The shapes an answer may have, the request's own first."""
        return ((self.body_key, self.programs_key, self.status_key), *self.alternates)

    def shaped(self, shape: int) -> Endpoint:
        """This endpoint reading answers of shape ``shape`` (0: its own)."""
        if not shape:
            return self
        body, programs, status = self.answer_keys()[shape]
        return replace(self, body_key=body, programs_key=programs, status_key=status)


UPDATE = Endpoint(name="update", path=ENDPOINT,
                  body_key="customersPartnerUpdates", customer_key="customer",
                  programs_key="partnerProgramUpdates", status_key="updateStatus",
                  has_update_type=True)

LINK = Endpoint(name="link", path=LINK_ENDPOINT, body_key=LINK_BODY_KEY,
                customer_key="customer", programs_key=LINK_PROGRAMS_KEY,
                status_key=LINK_STATUS_KEY, has_update_type=False)

DELINK = Endpoint(name="delink", path=DELINK_ENDPOINT, body_key=DELINK_BODY_KEY,
                  customer_key="customer", programs_key=DELINK_PROGRAMS_KEY,
                  status_key=DELINK_STATUS_KEY, has_update_type=False,
                  alternates=(DELINK_SAMPLE_KEYS,), short_answers=True)

ENDPOINTS = {e.name: e for e in (UPDATE, LINK, DELINK)}
"""By name: what a run directory's manifest records (``"api"``)."""


def endpoint_named(name: str) -> Endpoint:
    """The endpoint a run serves, from its manifest's ``api`` (``update`` when absent)."""
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise ValueError(f"unknown API {name!r} (known: {', '.join(ENDPOINTS)})") from None
