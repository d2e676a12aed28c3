"""The domain: campaigns, pledges, counting and tipping (counting.py, the one place counts
move), money pledges and Stripe Checkout (payments.py, checkout.py), leads and
organisations, moderation, a resident's data and its erasure and retention, and the events
journal that notifications/ reads.

Its errors (errors.py) are mapped to HTTP once, in app/errors.py. The Store (store.py)
owns the database dialect: transactions, and the one claim helper for lease queues.
Knows nothing of HTTP, email or webhooks: never imports app/ or notifications/, and reaches
outside services only through gateways/.
"""
