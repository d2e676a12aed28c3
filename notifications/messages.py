"""What each email says: rendered from templates at send time, with signed links."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import Policy
from email.utils import formatdate, make_msgid
from pathlib import Path

from databases import Database
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pledges.campaigns import get_campaign_by_id
from pledges.pledging import get_pledge
from pledges.tokens import Signer
from pledges.updates import CampaignUpdate, update_for_event

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)

SUBJECTS = {
    "confirm": "Confirm your pledge: {title}",
    "repeated": "You have already pledged: {title}",
    "tipped": "It tipped! {title} reached its target",
    "expired": "{title} closed without reaching its target",
    "cancelled": "{title} was cancelled",
    "update": "{title}: {update_title}",
}
SIGN_IN_SUBJECTS = {
    "lead": "Your Groundswell sign-in link",
    "resident": "Your pledges on Groundswell",
}
# Campaign news can be unsubscribed from; a confirmation link cannot.
UNSUBSCRIBABLE = {"tipped", "expired", "cancelled", "update"}
# A campaign title and an update's title can each be 200 characters long.
MAX_SUBJECT = 250


class UnfoldedHeader(str):
    """A header sent on one line as written. Folded at 78 columns, a long List-Unsubscribe
    URL would be RFC 2047-encoded, which mail clients do not decode in that header."""

    name: str

    def __new__(cls, name: str, value: str) -> UnfoldedHeader:
        if not value.isascii() or "\r" in value or "\n" in value:
            raise ValueError(f"{name} must be one line of ASCII")
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


class MessageRenderer:
    def __init__(self, signer: Signer, base_url: str, mail_from: str) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.mail_from = mail_from

    def links_for(self, pledge_id: int) -> dict[str, str]:
        return {
            "confirm": f"{self.base_url}/pledges/confirm?token="
            + self.signer.sign(pledge_id, "pledge-confirm"),
            "withdraw": f"{self.base_url}/pledges/withdraw?token="
            + self.signer.sign(pledge_id, "pledge-withdraw"),
            "unsubscribe": f"{self.base_url}/unsubscribe?token="
            + self.signer.sign(pledge_id, "unsubscribe"),
        }

    async def render(
        self, db: Database, kind: str, pledge_id: int, *, event_id: int | None = None
    ) -> Rendered:
        """One pledger's copy of a message; an "update" also needs the event that
        announced it (the outbox row's event_id), which names the update."""
        pledge = await get_pledge(db, pledge_id)
        campaign = await get_campaign_by_id(db, pledge.campaign_id)
        links = self.links_for(pledge.id)
        update: CampaignUpdate | None = None
        if kind == "update":
            update = await update_for_event(db, event_id) if event_id is not None else None
            if update is None:
                raise LookupError(f"no campaign update for event {event_id}")
        context = {
            "update": update,
            "pledge": pledge,
            "campaign": campaign,
            "links": links,
            "campaign_url": f"{self.base_url}/c/{campaign.slug}",
            "base_url": self.base_url,
        }
        headers: dict[str, str] = {}
        if kind in UNSUBSCRIBABLE:
            headers["List-Unsubscribe"] = f"<{links['unsubscribe']}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        subject = SUBJECTS[kind].format(
            title=campaign.title, update_title=update.title if update else ""
        )
        if len(subject) > MAX_SUBJECT:  # the outbox keeps subjects of up to 300 characters
            subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
        return Rendered(
            subject=subject,
            text=_env.get_template(f"email/{kind}.txt").render(context),
            html=_env.get_template(f"email/{kind}.html").render(context),
            headers=headers,
        )

    def render_sign_in(self, purpose: str, link: str) -> Rendered:
        """A sign-in link: for a campaign lead, or for a resident's "my pledges"."""
        context = {"link": link, "base_url": self.base_url}
        return Rendered(
            subject=SIGN_IN_SUBJECTS[purpose],
            text=_env.get_template(f"email/sign_in_{purpose}.txt").render(context),
            html=_env.get_template(f"email/sign_in_{purpose}.html").render(context),
            headers={},
        )

    def build(self, to_address: str, rendered: Rendered, dedupe_key: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = to_address
        message["Subject"] = rendered.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=dedupe_key.replace(":", "."))
        for name, value in rendered.headers.items():
            message[name] = UnfoldedHeader(name, value)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message
