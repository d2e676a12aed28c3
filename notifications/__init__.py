"""Everything that leaves the building, read from the events journal: the email outbox and
its SMTP sending (outbox.py, messages.py, mail.py, sign_in.py), webhook endpoints and signed
deliveries with retries (endpoints.py, webhooks.py, signing.py, ssrf.py), what providers
and councils see of demand (demand.py), and the worker that runs it all (worker.py).

Owns its tables (tables.py): the outbox's copies of a pledger's mail are scrubbed here
(outbox.scrub_pledge_mail), which pledges/ erasure and retention receive from their
callers. Imports pledges/ and gateways/, never app/.
"""
