"""The email an administrator's warning sends to a campaign's lead (pledges.reports): written
whole when the warning is recorded and queued in the outbox in the same transaction, so
the worker sends it once, with the outbox's retries."""

from __future__ import annotations

from databases import Database

from notifications.messages import MessageRenderer
from notifications.outbox import queue_prepared
from pledges.reports import LeadWarning, QueueWarning
from pledges.store import Store

LEAD_WARNING_KIND = "lead_warning"


def lead_warning_queue(store: Store, renderer: MessageRenderer) -> QueueWarning:
    """The QueueWarning pledges.reports.decide_report takes."""

    async def queue_lead_warning(db: Database, warning: LeadWarning) -> None:
        await queue_prepared(
            store,
            db,
            LEAD_WARNING_KIND,
            f"{LEAD_WARNING_KIND}:{warning.action_id}",
            warning.lead_email,
            renderer.render_lead_warning(warning),
        )

    return queue_lead_warning
