"""The API: what Capillary's partner-program endpoints are and what their answers mean.
Its facts (:mod:`bulkupdate.base.api`) and an endpoint as a value
(:mod:`bulkupdate.base.endpoint`: update, link, delink) sit below it, in base:
settings and source name them too, and nothing they name may import back up.

* :mod:`.transport` — the one way to the API: every request (update, link, read, token)
  and the one renewal after a 401; no redirects, bounded body; every failure → its meaning;
* :mod:`.auth` — Basic (md5) and OAuth headers, the token renewed in one flight;
* :mod:`.client` — one batch through the transport → an :class:`~.answers.Answer`;
* :mod:`.read` — the read endpoint, and what its answer says of a customer's programs;
* :mod:`.answers` — HTTP status and body → what happened to the request (one table, pure);
* :mod:`.matching` — which answer item is which record, identifiers as the API stores them;
* :mod:`.outcomes` — answer items → one result per record (pure).
"""
