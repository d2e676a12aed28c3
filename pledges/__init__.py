"""The domain: campaigns, pledges, thresholds, tipping and the events journal.

Knows nothing of HTTP, email or webhooks.
"""
