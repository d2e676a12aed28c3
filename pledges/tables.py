"""SQLAlchemy Core tables for the domain; notifications adds its own to the same metadata."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments a plain INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

leads = sa.Table(
    "leads",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", Timestamp, nullable=False),
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(10), nullable=False),  # provider | council
    sa.Column("created_at", Timestamp, nullable=False),
    # Set by an administrator: only an approved organisation may download residents'
    # contact details. approved_by is the administrator (a lead) who approved it.
    sa.Column("approved_at", Timestamp, nullable=True),
    sa.Column("approved_by", BigId, sa.ForeignKey("leads.id"), nullable=True),
)

organisation_members = sa.Table(
    "organisation_members",
    metadata,
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), primary_key=True),
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    # sha256 of the key: the key itself is shown once and never stored.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("lead_id", BigId, sa.ForeignKey("leads.id"), nullable=True),
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("last_used_at", Timestamp, nullable=True),
    sa.Column("revoked_at", Timestamp, nullable=True),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("slug", sa.String(80), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("area_name", sa.String(200), nullable=False),
    sa.Column("target", sa.Integer, nullable=False),
    sa.Column("deadline", Timestamp, nullable=False),
    sa.Column("milestones", sa.String(200), nullable=False),  # JSON list of percents
    sa.Column("lead_id", BigId, sa.ForeignKey("leads.id"), nullable=False),
    # draft | pending_review (published, waiting for an administrator: MODERATION=pre) |
    # open | tipped | expired | cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("confirmed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("milestone_reached", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("opened_at", Timestamp, nullable=True),
    sa.Column("tipped_at", Timestamp, nullable=True),
    sa.Column("closed_at", Timestamp, nullable=True),
    # Set by an administrator: the campaign leaves every public list and page.
    sa.Column("hidden_at", Timestamp, nullable=True),
    # Money campaigns (currency set): amounts in the currency's minor units (pence, cents).
    # target may be 0 when money_target is set: a money target instead of a count.
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("money_target", sa.BigInteger, nullable=True),
    # Either a fixed deposit per pledge, or a range each resident chooses from.
    sa.Column("deposit_amount", sa.BigInteger, nullable=True),
    sa.Column("min_amount", sa.BigInteger, nullable=True),
    sa.Column("max_amount", sa.BigInteger, nullable=True),
    # Moved only by `x = x + :d` in the transaction of the pledge's change, as the count.
    sa.Column("pledged_amount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("collected_amount", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refunded_amount", sa.BigInteger, nullable=False, server_default="0"),
    # Charging after tipping is over: every counted pledge paid, failed or released.
    sa.Column("funded_at", Timestamp, nullable=True),
    # What the campaign counts: "people" (each confirmed pledge) or "households" (one
    # confirmed pledge per home: the postcode plus the normalised first line of the address).
    sa.Column("counts", sa.String(10), nullable=False, server_default="people"),
    # The premises in the area: the number the lead gave, and the rows of their list (the
    # list, when there is one, is what coverage is a share of).
    sa.Column("premises_count", sa.Integer, nullable=True),
    sa.Column("premises_listed", sa.Integer, nullable=False, server_default="0"),
    # A households campaign's threshold as a percent of the premises, instead of `target`.
    sa.Column("coverage_target", sa.Integer, nullable=True),
    # A household counts only once verified by a letter's code (or vouched for by the lead).
    sa.Column("require_letter", sa.Boolean, nullable=False, server_default=sa.false()),
    # Moved only by `x = x + :d` in the transaction of the change, as confirmed_count:
    # counted households, and those of them on the premises list.
    sa.Column("household_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("covered_count", sa.Integer, nullable=False, server_default="0"),
    # The price question (pledges.demand): "the most you would pay", in price_currency's
    # minor units per price_period (month | year | once), one of price_points (a JSON list,
    # ascending); price_required: a pledge must answer (else "not sure" is allowed).
    sa.Column("price_currency", sa.String(3), nullable=True),
    sa.Column("price_period", sa.String(5), nullable=True),
    sa.Column("price_points", sa.String(800), nullable=True),
    sa.Column("price_required", sa.Boolean, nullable=False, server_default=sa.false()),
    # Only units whose answer is at least this price count towards the threshold.
    sa.Column("target_price", sa.BigInteger, nullable=True),
    # The lead's take-up rates per firmness, percents (JSON object); null: the site's.
    sa.Column("take_up_rates", sa.String(200), nullable=True),
    # A provider's quote for the whole build, shared by the homes that join, less a
    # voucher per home; tip_on_cost: the campaign tips when, for some N, N units would pay
    # at least quote / N - voucher (instead of a count target).
    sa.Column("quote_total", sa.BigInteger, nullable=True),
    sa.Column("quote_voucher", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("tip_on_cost", sa.Boolean, nullable=False, server_default=sa.false()),
    # The equity floor: at least equity_share percent of the counted units must come from
    # priority places (equity_districts, a JSON list, or premises marked priority).
    sa.Column("equity_share", sa.Integer, nullable=True),
    sa.Column("equity_districts", sa.String(2000), nullable=True),
    # Moved only by `x = x + :d` in move_count's UPDATE, with the count: counted units by
    # firmness, those at or above the target price (and of them, households on the
    # premises list), and those in priority places. cost_covered: the most any price
    # point's units would pay towards the quote (max over p of D(p) x (p + voucher)), set
    # under the same lock from demand_counts.
    sa.Column("firm_interested", sa.Integer, nullable=False, server_default="0"),
    sa.Column("firm_will_switch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("firm_deposit", sa.Integer, nullable=False, server_default="0"),
    sa.Column("priced_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("priced_covered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("priority_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_covered", sa.BigInteger, nullable=False, server_default="0"),
    # Review by the administrators (pledges.review): null (never queued, MODERATION=off),
    # pending (in the queue), approved or rejected; submitted_at: when it entered the queue.
    sa.Column("moderation", sa.String(10), nullable=True),
    sa.Column("submitted_at", Timestamp, nullable=True),
    sa.Index("ix_campaigns_status_deadline", "status", "deadline"),
    sa.Index("ix_campaigns_moderation", "moderation", "submitted_at"),
)

# Every approval and rejection (pledges.review): who decided (the administrator's email),
# when, and why (a reason from pledges.review.REJECTION_REASONS, and free text).
moderation_decisions = sa.Table(
    "moderation_decisions",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("administrator", sa.String(320), nullable=False),
    sa.Column("decision", sa.String(10), nullable=False),  # approve | reject
    sa.Column("reason", sa.String(30), nullable=True),  # a rejection's reason code
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    # pre (decided before it went live) | post (decided while it was live)
    sa.Column("mode", sa.String(4), nullable=False),
    sa.Column("decided_at", Timestamp, nullable=False),
    sa.Index("ix_moderation_decisions_campaign", "campaign_id", "decided_at"),
)

campaign_districts = sa.Table(
    "campaign_districts",
    metadata,
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("district", sa.String(8), primary_key=True),
    sa.Index("ix_campaign_districts_district", "district"),
)

pledges = sa.Table(
    "pledges",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # Null for a pledge a lead recorded for a neighbour without an email address.
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("email_canonical", sa.String(320), nullable=True),
    sa.Column("postcode", sa.String(8), nullable=False),
    # The first line of the address (required on a households campaign): personal data,
    # blanked by erasure and anonymisation like the email.
    sa.Column("address_line", sa.String(200), nullable=True),
    # The household it belongs to (households campaigns).
    sa.Column("household_id", BigId, sa.ForeignKey("households.id"), nullable=True),
    # A pledge without email: an optional phone number the lead may call, and the lead who
    # attested it (it counts at once, as "vouched").
    sa.Column("phone", sa.String(40), nullable=True),
    sa.Column("vouched_by", BigId, sa.ForeignKey("leads.id"), nullable=True),
    # The most the resident would pay (one of the campaign's price points; null: not sure,
    # or no price question), and how firm their intent is: interested | will_switch |
    # deposit (a money pledge is always deposit).
    sa.Column("max_price", sa.BigInteger, nullable=True),
    sa.Column("firmness", sa.String(12), nullable=False, server_default="will_switch"),
    sa.Column("district", sa.String(4), nullable=False),
    sa.Column("show_name", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("share_contact", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("confirmed_at", Timestamp, nullable=True),
    sa.Column("withdrawn_at", Timestamp, nullable=True),
    # Set when the resident asks for no more campaign news (List-Unsubscribe).
    sa.Column("unsubscribed_at", Timestamp, nullable=True),
    # The client's address for an anonymous pledge (IPv6 text fits in 45): rate limits, abuse.
    sa.Column("ip", sa.String(45), nullable=True),
    # status "invalid": struck out by an administrator (bulk invalidation against abuse).
    sa.Column("invalidated_at", Timestamp, nullable=True),
    # Personal data replaced once the retention period after the campaign closed ran out.
    sa.Column("anonymised_at", Timestamp, nullable=True),
    # Money pledges (campaign with a currency). The pledge counts (status confirmed) once
    # both the email is confirmed and the card is saved, in either order.
    sa.Column("amount", sa.BigInteger, nullable=True),
    # awaiting_card -> card_saved -> charging -> paid | action_required -> paid | failed;
    # card_saved -> released (detached: withdrawn, expired, cancelled); paid -> refunded;
    # paid after the pledge was withdrawn mid-charge: refund_due -> refunded (at once).
    sa.Column("payment_status", sa.String(16), nullable=True),
    sa.Column("email_confirmed_at", Timestamp, nullable=True),
    sa.Column("card_saved_at", Timestamp, nullable=True),
    sa.Column("stripe_customer_id", sa.String(255), nullable=True),
    sa.Column("stripe_payment_method_id", sa.String(255), nullable=True),
    sa.Column("stripe_payment_intent_id", sa.String(255), nullable=True),
    # Stripe's error code of the last failed charge (card_declined, ...), never card data.
    sa.Column("payment_error", sa.String(100), nullable=True),
    # A worker holds a pledge while charging it; a crash leaves the lease to run out.
    sa.Column("charge_lease_until", Timestamp, nullable=True),
    # First failed charge: the resident is asked to pay, reminded, and given 7 days.
    sa.Column("charge_failed_at", Timestamp, nullable=True),
    sa.Column("payment_reminded_at", Timestamp, nullable=True),
    sa.Column("paid_at", Timestamp, nullable=True),
    sa.Column("released_at", Timestamp, nullable=True),
    sa.Column("refunded_at", Timestamp, nullable=True),
    sa.UniqueConstraint("campaign_id", "email_canonical", name="uq_pledges_campaign_email"),
    sa.Index("ix_pledges_campaign_status", "campaign_id", "status"),
    sa.Index("ix_pledges_campaign_ip_created", "campaign_id", "ip", "created_at"),
    sa.Index("ix_pledges_payment_status", "payment_status", "campaign_id"),
    sa.Index("ix_pledges_household", "household_id", "status"),
)

# A home on a households campaign: the postcode plus the normalised first line of the
# address (pledges.addresses.address_key). One confirmed pledge per household counts.
households = sa.Table(
    "households",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("postcode", sa.String(8), nullable=False),
    sa.Column("address_key", sa.String(200), nullable=False),
    sa.Column("street", sa.String(200), nullable=False),
    sa.Column("district", sa.String(4), nullable=False),
    # On the campaign's premises list (kept in step when the list is replaced).
    sa.Column("listed", sa.Boolean, nullable=False, server_default=sa.false()),
    # The confirmed pledge that counts for the household; null: the household is not counted.
    sa.Column("counting_pledge_id", BigId, nullable=True),
    # email | letter | vouched, while counted.
    sa.Column("level", sa.String(8), nullable=True),
    sa.Column("letter_verified_at", Timestamp, nullable=True),
    # Not on the premises list, and the lead chose to leave it off (reviewed, not dropped:
    # its pledges still count as people and households, just not towards coverage).
    sa.Column("left_out_at", Timestamp, nullable=True),
    # Its premises row is marked priority (social housing, say: the equity floor).
    sa.Column("priority", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint(
        "campaign_id", "postcode", "address_key", name="uq_households_campaign_address"
    ),
)

# A lead's list of the premises in the area. Each may carry a letter's one-time code,
# stored as its sha256 only, used once.
premises = sa.Table(
    "premises",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("address_line", sa.String(200), nullable=False),
    sa.Column("postcode", sa.String(8), nullable=False),
    sa.Column("district", sa.String(4), nullable=False),
    sa.Column("street", sa.String(200), nullable=False),
    sa.Column("address_key", sa.String(200), nullable=False),
    sa.Column("uprn", sa.String(12), nullable=True),
    # A priority place the lead marked (social housing, say): counts for the equity floor.
    sa.Column("priority", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("code_hash", sa.String(64), nullable=True),
    sa.Column("code_issued_at", Timestamp, nullable=True),
    sa.Column("code_used_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint(
        "campaign_id", "postcode", "address_key", name="uq_premises_campaign_address"
    ),
    sa.Index("ix_premises_campaign_code", "campaign_id", "code_hash"),
)

# Each letter code a resident entered, right or wrong: guessing is limited per address
# and per campaign. `address` is the postcode and address key the resident claimed.
letter_attempts = sa.Table(
    "letter_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("address", sa.String(220), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_letter_attempts_campaign", "campaign_id", "created_at"),
    sa.Index("ix_letter_attempts_address", "campaign_id", "address", "created_at"),
)

# The demand curve's counters (campaigns with a price question): counted units per
# (max price, firmness, verification level, on the premises list, postcode district), price
# 0 for "not sure". The district lets demand be read per district across campaigns.
# Moved by `n = n + :d` in the transaction of the change, after the campaign's row lock.
demand_counts = sa.Table(
    "demand_counts",
    metadata,
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("price", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("firmness", sa.String(12), primary_key=True),
    sa.Column("level", sa.String(8), primary_key=True),
    sa.Column("listed", sa.Boolean, primary_key=True),
    sa.Column("district", sa.String(4), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)

# Stripe events already processed: inserted (or ignored) in the transaction of the event's
# effect, so each event id has its effect exactly once however often Stripe sends it.
stripe_events = sa.Table(
    "stripe_events",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("created", sa.BigInteger, nullable=False),  # Stripe's epoch seconds
    sa.Column("received_at", Timestamp, nullable=False),
)

campaign_updates = sa.Table(
    "campaign_updates",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_campaign_updates_campaign", "campaign_id", "created_at"),
)

# Single-use sign-in links (campaign leads, residents' "my pledges"). The emailed token
# carries a random nonce; only its sha256 is stored, and using it sets used_at once.
magic_links = sa.Table(
    "magic_links",
    metadata,
    sa.Column("nonce_hash", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(20), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("used_at", Timestamp, nullable=True),
    # For the limits on asking: the address in canonical form (pledges.identity), so +tag
    # and dotted spellings count as one, and the client's IP address. Null on links made
    # before they were kept. The retention job deletes a link's row a day after it was made.
    sa.Column("email_canonical", sa.String(320), nullable=True),
    sa.Column("ip", sa.String(45), nullable=True),
    sa.Index("ix_magic_links_email_created", "email", "created_at"),
    sa.Index("ix_magic_links_canonical_created", "email_canonical", "created_at"),
    sa.Index("ix_magic_links_ip_created", "ip", "created_at"),
    sa.Index("ix_magic_links_created", "created_at"),
)

# Signed-in sessions (a lead's, a resident's "my pledges", an organisation's), one row each:
# the session cookie carries a random id whose sha256 is the key here. Signing out deletes
# the row, so a copy of the cookie stops working; rows past expires_at are deleted by the
# retention job. Nothing here names the person: the cookie itself says who signed in.
signed_in_sessions = sa.Table(
    "signed_in_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Index("ix_signed_in_sessions_expires", "expires_at"),
)

# Every download of a tipped campaign's contacts by an organisation (the API's or the CSV):
# who, which campaign, when and how many; its pledges are in contact_download_pledges, so a
# resident's data export can say which organisation received their details and when.
contact_downloads = sa.Table(
    "contact_downloads",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("contact_count", sa.Integer, nullable=False),
    sa.Column("via", sa.String(10), nullable=False),  # api | csv
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_contact_downloads_campaign", "campaign_id", "created_at"),
)

# Which pledges each download carried. Erasing or anonymising a pledge deletes its rows here
# (the download's contact_count stays).
contact_download_pledges = sa.Table(
    "contact_download_pledges",
    metadata,
    sa.Column("download_id", BigId, sa.ForeignKey("contact_downloads.id"), primary_key=True),
    sa.Column("pledge_id", BigId, sa.ForeignKey("pledges.id"), primary_key=True),
    sa.Index("ix_contact_download_pledges_pledge", "pledge_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),  # JSON object
    sa.Column("created_at", Timestamp, nullable=False),
    # The one mutable column: set once when notifications has fanned the event out.
    sa.Column("dispatched_at", Timestamp, nullable=True),
    sa.Index(
        "ix_events_undispatched",
        "id",
        postgresql_where=sa.text("dispatched_at IS NULL"),
        sqlite_where=sa.text("dispatched_at IS NULL"),
    ),
    sa.Index("ix_events_campaign", "campaign_id", "id"),
)

# What providers and councils answer a tipped campaign with (issue 13): a public response,
# offers its residents choose between in one choice round, and the chosen provider's
# delivery record. Counters here move by `x = x + :d` in the transaction of the choice.

# A council's or provider's plain-text answer, shown on the campaign page and emailed.
responses = sa.Table(
    "responses",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_responses_campaign", "campaign_id", "created_at"),
)

# A provider's offer on a tipped campaign: price per period in the campaign's currency,
# and a social tariff (its price and who qualifies) or a plain statement there is none.
offers = sa.Table(
    "offers",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("period", sa.String(5), nullable=False),  # month | year | once
    sa.Column("setup_fee", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("minimum_term_months", sa.Integer, nullable=False, server_default="0"),
    sa.Column("available_from", Timestamp, nullable=True),
    sa.Column("valid_until", Timestamp, nullable=True),
    sa.Column("social_tariff_price", sa.BigInteger, nullable=True),
    sa.Column("social_tariff_eligibility", sa.String(1000), nullable=True),
    # Set instead of the two above when the provider has no social tariff.
    sa.Column("no_social_tariff", sa.String(1000), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),  # published | withdrawn
    sa.Column("withdrawn_reason", sa.String(1000), nullable=True),
    sa.Column("withdrawn_at", Timestamp, nullable=True),
    # Orders offers of the same price: random per offer, so no provider can buy a place.
    sa.Column("shuffle_key", sa.String(64), nullable=False),
    # Units (households, or people on a people campaign) whose choice is this offer, those
    # of them who would need a social tariff, and those who confirmed the service reached them.
    sa.Column("chosen_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("social_tariff_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("served_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_offers_campaign", "campaign_id", "status"),
)

# A campaign's one choice round, opened by the lead or by the worker 14 days after the
# first offer; its row is the lock every choice takes first.
choice_rounds = sa.Table(
    "choice_rounds",
    metadata,
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("opened_by", sa.String(5), nullable=False),  # lead | auto
    sa.Column("opened_at", Timestamp, nullable=False),
    sa.Column("closes_at", Timestamp, nullable=False),
    sa.Column("closed_at", Timestamp, nullable=True),
    # Units that chose an offer, that chose "none of these", and that said they would need
    # a social tariff (shown only as an aggregate, never below 5).
    sa.Column("chose_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("none_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("social_tariff_count", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_choice_rounds_due", "closed_at", "closes_at"),
)

# One choice per unit: a household on a households campaign (any of its confirmed
# pledgers may make or change it), else a pledge. pledge_id: who chose last.
choices = sa.Table(
    "choices",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("unit_key", sa.String(24), nullable=False),  # "h<household id>" | "p<pledge id>"
    sa.Column("pledge_id", BigId, sa.ForeignKey("pledges.id"), nullable=False),
    sa.Column("offer_id", BigId, sa.ForeignKey("offers.id"), nullable=True),  # null: none
    # Private answers: "I would need a social tariff", and "the provider I chose may contact me".
    sa.Column("needs_social_tariff", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("share_contact", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # The resident said the chosen provider's service reached them.
    sa.Column("service_confirmed_at", Timestamp, nullable=True),
    sa.UniqueConstraint("campaign_id", "unit_key", name="uq_choices_campaign_unit"),
    sa.Index("ix_choices_offer", "offer_id"),
    sa.Index("ix_choices_pledge", "pledge_id"),
)

# The chosen provider's promise kept in public: dated milestones (survey, build, first
# connections), each done on a date or missed.
delivery_milestones = sa.Table(
    "delivery_milestones",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("public_id", sa.String(40), nullable=False, unique=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("organisation_id", BigId, sa.ForeignKey("organisations.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # survey | build | first_connections | other
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("due_on", Timestamp, nullable=False),
    sa.Column("done_on", Timestamp, nullable=True),
    # Set once by the worker when due_on passed undone (the waiting residents are emailed).
    sa.Column("missed_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_delivery_milestones_campaign", "campaign_id", "due_on"),
    sa.Index("ix_delivery_milestones_due", "missed_at", "done_on", "due_on"),
)

# What an administrator did about residents' reports (pledges.reports): hide the campaign,
# warn its lead (message: what the email said), or dismiss. Who (their email) and when.
report_actions = sa.Table(
    "report_actions",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),  # hide | warn | dismiss
    sa.Column("admin_email", sa.String(320), nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_report_actions_created", "created_at"),
)

# A resident's report of a campaign, or of one of its updates (update_id). No account:
# the reporter's email (for a reply) is optional, and the client address is kept only for
# the per-address limit (pledges.reports: both are blanked by retention and erasure).
# action_id is set, with closed_at, by the administrator's action that closed it.
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", BigId, primary_key=True),
    sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("update_id", BigId, sa.ForeignKey("campaign_updates.id"), nullable=True),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("details", sa.Text, nullable=False, server_default=""),
    sa.Column("reporter_email", sa.String(320), nullable=True),
    sa.Column("reporter_email_canonical", sa.String(320), nullable=True),
    sa.Column("ip", sa.String(45), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("action_id", BigId, sa.ForeignKey("report_actions.id"), nullable=True),
    sa.Column("closed_at", Timestamp, nullable=True),
    sa.Index("ix_reports_open", "closed_at", "created_at"),
    sa.Index("ix_reports_campaign", "campaign_id"),
    sa.Index("ix_reports_ip", "ip", "created_at"),
    sa.Index("ix_reports_reporter", "reporter_email_canonical"),
)
