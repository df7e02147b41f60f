"""The API's facts in one place: paths, headers, limits, identifiers, update types
and what its codes mean, from Capillary's reference for the Update Customer
Partner Program API and its v2 conventions. Answers name each customer as the
API stores it (all four identifiers, a mobile with its country code): how items
are matched to records is :mod:`bulkupdate.capillary.matching`'s.

The Link Customer API (``linkCustomer``) shares the paths' root, the auth, the
batch limit, the identifiers and most codes; its own facts are the ``LINK_``
names below and code 2005 (docs/migrations.md). The delink API's are the
``DELINK_`` names (docs/delink.md).

The simulator (``bulkupdate/simulator``) keeps its own copy of these rules on
purpose: it stands in for the server, so a mistake here must show up as a
disagreement in tests, not be shared by client and server alike.
"""

from __future__ import annotations

ENDPOINT = "/v2/partnerProgram/customerPartnerProgramUpdate"
TOKEN_PATH = "/v3/oauth/token/generate"
TOKEN_HEADER = "X-CAP-API-OAUTH-TOKEN"
MAX_BATCH = 50                  # customers per request, at most

# Link Customer to Partner Program: one item links a customer to programs.
LINK_ENDPOINT = "/v2/partnerProgram/linkCustomer"
LINK_BODY_KEY = "linkCustomers"
LINK_PROGRAMS_KEY = "linkToPartnerPrograms"
LINK_STATUS_KEY = "partnerLinkStatus"
LINK_REFERENCE_KEYS = ("partnerMembershipId", "partnerTierName", "partnerTierExpiryDate",
                       "membershipStartDate")
# A link has no updateType; the ledger names its program entries with this one,
# so a program entry reads the same for both APIs.
LINK_TYPE = "LINK"
ALREADY_LINKED = 2005

# Delink Customer from Partner Program (``bulkupdate delink``, docs/delink.md): one
# item names the programs a customer leaves. Capillary's pages disagree on the
# answer: an older one answers in the request's shape (the ``DELINK_`` keys), the
# current one shows a copy of the update API's sample (``DELINK_SAMPLE_KEYS``).
DELINK_ENDPOINT = "/v2/partnerProgram/deLinkCustomer"
DELINK_BODY_KEY = "deLinkCustomers"
DELINK_PROGRAMS_KEY = "deLinkFromPartnerPrograms"
DELINK_STATUS_KEY = "partnerDeLinkStatus"
DELINK_SAMPLE_KEYS = ("customersPartnerUpdates", "partnerProgramUpdates", "updateStatus")
DELINK_TYPE = "DELINK"
NOT_LINKED = 2004

# Reading a customer's programs back (``bulkupdate verify``,
# :mod:`bulkupdate.capillary.read`): the defaults of the read settings, which
# settings name, so they sit here, below both.
READ_PATH = "/v2/partnerProgram/customerActivityHistories"
READ_SOURCE = "INSTORE"
READ_ACTIVITY_TYPE = "LINKINGUPDATES"

IDENTIFIERS = ("id", "mobile", "email", "externalId")
UPDATE_TYPES = ("UPGRADE", "DOWNGRADE", "RENEW", "MEMBERSHIP_RELINKING_CANCELLED",
                "MEMBERSHIP_RENEWAL_INITIATION")
NEEDS_DETAILS = frozenset({"UPGRADE", "DOWNGRADE", "RENEW", "MEMBERSHIP_RENEWAL_INITIATION"})

SPLIT_CODES = frozenset({2008, 1060})                # batch over the server's limit
NOT_APPLIED_STATUSES = frozenset({429, 461, 503, 521})   # refused before processing
THROTTLE_STATUSES = frozenset({429})
NO_ENDPOINT_STATUSES = frozenset({404, 405})         # without a per-item body: wrong base URL
# Per-item codes from Capillary's partner-program error list that mean "not now":
# 2010 partner program events are queued for the customer; 2001 the event cannot
# be processed now. Transient for that record alone, like 521 for a request.
NOT_NOW_CODES = frozenset({2010, 2001})

CODE_MEANINGS = {
    200: "success", 1000: "customer found", 8015: "customer not found",
    2002: "required field empty", 2003: "expiry date in the past",
    2004: "customer not linked to the program",
    2005: "customer already linked to the program", 2006: "partner program not found",
    2007: "tier not found in the program", 2008: "batch over the server's limit",
    2009: "unsupported updateType", 2026: "relinking not enabled for the org",
    2027: "no pending relinking to cancel", 2028: "renewal initiation not allowed for the org",
    2010: "events queued for the customer (not now)",
    2001: "event cannot be processed now (not now)",
}
