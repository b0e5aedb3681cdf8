"""The store's tables, and the numbered migrations that make them.

The schema is versioned: ``migrate()`` applies the steps a database has not had yet, in
order, and is safe to run from several processes at once. The tables are SQLAlchemy Core
``Table``s, shared by the table families (audit, actions, follows, replays) and by retention,
which prunes them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection

from bot.store import clock
from bot.store.engine import Database

# The name the store has always logged under, whichever module of it logs.
log = logging.getLogger("bot.store")

# Any fixed number: every process migrating the same PostgreSQL database takes this lock.
_PG_MIGRATION_LOCK = 0x41495246  # "AIRF"

metadata = MetaData()

schema_version = Table(
    "chatops_schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("channel_id", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("verb", String(32), nullable=False),
    Column("deployment", String(255)),
    Column("dag_id", String(255)),
    Column("logical_date", DateTime(timezone=True)),
    Column("conf", JSON),
    Column("text", Text),
    Column("allowed", Boolean, nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("ok", Boolean),
    Column("outcome", Text),
    Column("run_id", String(255)),
    Column("error", Text),
    Index("ix_audit_log_user_at", "user_id", "at"),
)


# What a button stands for, kept here so that a button's value is only this row's opaque id:
# a click can name an action but never describe one.
pending_action = Table(
    "pending_action",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("verb", String(32), nullable=False),  # what clicking does: trigger, page, runs, ...
    Column("state", String(24), nullable=False),
    Column("user_id", String(32), nullable=False),  # who asked for it
    Column("channel_id", String(32), nullable=False),
    Column("thread_ts", String(32)),  # the thread it belongs to
    Column("message_ts", String(32)),  # the message carrying its buttons, once posted
    Column("deployment", String(255)),
    Column("dag_id", String(255)),
    Column("logical_date", DateTime(timezone=True)),
    Column("conf", JSON),
    Column("args", JSON),  # the rest, per verb: a page's offset and filter, a run id, ...
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_by", String(32)),
    Column("approved_by", String(32)),
    Column("decided_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Column("run_id", String(255)),
)


# The DAG runs the bot started and reports on, until they end. A process holds a row's lease
# while it checks it; another takes the row over once the lease lapses (its holder died).
followed_run = Table(
    "followed_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("deployment", String(255), nullable=False),
    Column("dag_id", String(255), nullable=False),
    Column("run_id", String(255), nullable=False),
    Column("channel_id", String(32), nullable=False),
    Column("thread_ts", String(32)),
    Column("header", Text),  # the parent message's text, to put the outcome on it
    Column("requested_by", String(32), nullable=False),
    Column("reported", String(16), nullable=False),  # what the thread has been told: queued,
    #   running, ended, gave_up
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("give_up_at", DateTime(timezone=True), nullable=False),
    Column("next_check_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("checks", Integer, nullable=False),
    Index("ix_followed_run_due", "reported", "next_check_at"),
    Index("ux_followed_run", "deployment", "dag_id", "run_id", unique=True),
)


# Signatures of the requests already served, for a few minutes: Slack signs a request once,
# so the same signature again is a replay (or a duplicate delivery) and must not act twice.
seen_request = Table(
    "seen_request",
    metadata,
    Column("signature", String(80), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)


# Channels' subscriptions made in Slack (those declared in the config live there): which DAGs of
# a deployment, which events. ``starts_after``: the deployment's watermark when it was made,
# so that a new subscription starts now and not in the past.
subscription = Table(
    "subscription",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", String(32), nullable=False),
    Column("deployment", String(255), nullable=False),
    Column("dag_glob", String(255), nullable=False),
    Column("events", String(64), nullable=False),  # "failed,success"
    Column("created_by", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("starts_after", DateTime(timezone=True)),
    # The limits of long, queued and late ({"long_after": 1800, "late": {"at": "09:00", ...}});
    # NULL: the defaults. Added by step 10.
    Column("options", JSON),
    Index("ux_subscription", "channel_id", "deployment", "dag_glob", unique=True),
)

# One row per watched deployment: who watches it (a lease, so one process does), and how far
# it has read: the end date of the last run seen (Airflow's clock, not ours) and the runs seen
# that ended at that very instant, so that runs ending in the same second are neither missed
# nor told twice.
watch = Table(
    "watch",
    metadata,
    Column("deployment", String(255), primary_key=True),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("watermark", DateTime(timezone=True)),
    Column("at_watermark", JSON),  # ["dag_id/run_id", ...]
)

# Every (channel, run, event) the bot owes a channel, recorded before it is posted: the unique
# key makes each one once, however many processes watch; the row stays until it is posted (or
# known undeliverable), so an outage of Slack or a restart loses none.
watch_event = Table(
    "watch_event",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", String(32), nullable=False),
    Column("deployment", String(255), nullable=False),
    Column("dag_id", String(255), nullable=False),
    Column("run_id", String(255), nullable=False),
    Column("event", String(16), nullable=False),
    Column("message", JSON, nullable=False),  # the rendered post: text, blocks, buttons
    Column("state", String(16), nullable=False),  # pending, posted, undeliverable
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_try_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("posted_at", DateTime(timezone=True)),
    Column("message_ts", String(32)),
    Column("error", String(64)),
    # When what it tells of was over (a run that ended, a file that imports again): no longer
    # an open incident; one resolved before it was posted is still posted, as it then reads.
    # Added by step 10.
    Column("closed_at", DateTime(timezone=True)),
    Index("ux_watch_event", "channel_id", "deployment", "dag_id", "run_id", "event", unique=True),
    Index("ix_watch_event_due", "state", "next_try_at"),
)


# What the watch has learned of each DAG, so that it need not ask Airflow again: the
# durations of its last successful runs (newest first; their median is the DAG's usual
# duration, the automatic limit of `long`) and when its last success ended (for `late`).
# A cache: any process may write it, and losing it costs a few reads.
dag_history = Table(
    "dag_history",
    metadata,
    Column("deployment", String(255), primary_key=True),
    Column("dag_id", String(255), primary_key=True),
    Column("durations", JSON, nullable=False),  # [seconds, ...], at most 10, newest first
    Column("last_success_end", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),  # when Airflow was last asked (not learned)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# Every message the bot owes Slack, recorded before it is sent and kept until it is delivered
# or known undeliverable: an answer, an update of one, a follow-up, an alert, a post to a
# response_url. ``order_key`` is its thread (or the message it updates): within one key, a
# message goes only once those before it are done. ``key``: the sender's own name for the
# message, so that a sender that retries (the watch loop, a follower) records it once.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(160), unique=True),
    Column("kind", String(16), nullable=False),  # post, update, ephemeral, respond
    Column("order_key", String(160), nullable=False),
    Column("payload", JSON, nullable=False),  # the call's arguments (text, blocks, ...)
    Column("state", String(16), nullable=False),  # sending, pending, sent, failed
    Column("unknown", Boolean, nullable=False),  # a try may have got through: look first
    Column("attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("give_up_at", DateTime(timezone=True), nullable=False),
    Column("next_try_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("ts", String(32)),  # the message's, once sent
    Column("error", String(64)),
    Column("done_at", DateTime(timezone=True)),
    Index("ix_outbox_due", "state", "next_try_at"),
    Index("ix_outbox_order", "order_key", "id"),
)

# Requests acknowledged but not yet started when their process was told to stop (a deploy, a
# restart): the raw request as Slack sent it, for the next process to carry out.
handed_over = Table(
    "handed_over",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
)


# Every request acknowledged and not yet done that took longer than a moment (the request
# journal, bot/slack/journal.py, moves them here from each process's file on local disk): the
# raw request, leased to the process doing it. One that lapses (its process died, with its
# machine) or is released (at a deploy) is carried on by another. ``wrote``: a write may have
# reached Airflow, so it is not sent again. ``done_at``: done, kept a day so a late replay of a
# journal file does not do it again.
journaled_request = Table(
    "journaled_request",
    metadata,
    Column("request_key", String(80), primary_key=True),
    Column("body", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("wrote", Boolean, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
)


# The identity auth.test last gave for a bot token (bot/slack/identity.py), so a start while
# Slack is unreachable serves at once, the workspace check on. Keyed by the token's SHA-256, so
# another token (another workspace) never inherits it; the token itself is not stored.
slack_identity = Table(
    "slack_identity",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("auth_test", JSON, nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
)


def _create_audit_log(conn: Connection) -> None:
    audit_log.create(conn)


def _create_pending_action(conn: Connection) -> None:
    pending_action.create(conn)


def _create_followed_run(conn: Connection) -> None:
    followed_run.create(conn)


def _create_seen_request(conn: Connection) -> None:
    seen_request.create(conn)


def _index_for_pruning(conn: Connection) -> None:
    # Housekeeping (bot/core/housekeeping.py) deletes by these columns: without an index each
    # pass would read whole tables.
    # Plain DDL: an Index object would attach itself to the Table and so also be made by the
    # steps above on a newer database, and this step would then fail.
    for name, table, column in (
        ("ix_pending_action_expires_at", "pending_action", "expires_at"),
        ("ix_followed_run_created_at", "followed_run", "created_at"),
        ("ix_audit_log_at", "audit_log", "at"),
    ):
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")


def _create_watching(conn: Connection) -> None:
    for table in (subscription, watch, watch_event):
        table.create(conn)


def _create_delivery(conn: Connection) -> None:
    for table in (outbox, handed_over):
        table.create(conn)


def _create_journaled_request(conn: Connection) -> None:
    journaled_request.create(conn)


def _create_slack_identity(conn: Connection) -> None:
    slack_identity.create(conn)


def _watch_silent_trouble(conn: Connection) -> None:
    # Columns added to tables made by earlier steps: on a database those steps made from the
    # current Table objects (a new one), they are there already.
    for table, column, kind in (
        ("subscription", "options", "JSON"),
        ("watch_event", "closed_at", "TIMESTAMP WITH TIME ZONE"),
    ):
        present = {c["name"] for c in inspect(conn).get_columns(table)}
        if column not in present:
            if conn.dialect.name == "sqlite":
                kind = "DATETIME" if kind.startswith("TIMESTAMP") else kind
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    dag_history.create(conn)


def _failed_alerts_as_incidents(conn: Connection) -> None:
    # Failed alerts became incidents, open until the DAG's next success: those recorded before
    # are closed (at their own time, so none counts as a recovery just now), so that the next
    # failure of their DAG opens an incident of its own rather than going in an old thread.
    conn.execute(
        update(watch_event)
        .where(watch_event.c.event == "failed", watch_event.c.closed_at.is_(None))
        .values(closed_at=watch_event.c.created_at)
    )


# The schema's history: step N brings a database at version N-1 to version N. Append only;
# a released step is never edited, since databases out there already ran it.
MIGRATIONS: Sequence[Callable[[Connection], None]] = (
    _create_audit_log,
    _create_pending_action,
    _create_followed_run,
    _create_seen_request,
    _index_for_pruning,
    _create_watching,
    _create_delivery,
    _create_journaled_request,
    _create_slack_identity,
    _watch_silent_trouble,
    _failed_alerts_as_incidents,
)


def installed_version(db: Database) -> int:
    with db.connect() as conn:
        return _current_version(conn)


def migrate(db: Database) -> int:
    """Apply every migration step the database lacks; returns the version now in place.

    Steps and the version row commit together, and concurrent callers are serialised (a
    PostgreSQL advisory lock; SQLite's write lock), so each step runs exactly once.
    """
    with db.begin() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        schema_version.create(conn, checkfirst=True)
        current = _current_version(conn)
        for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
            log.info("state store: applying schema migration %d", version)
            step(conn)
            conn.execute(insert(schema_version).values(version=version, applied_at=clock.now()))
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"the state store's schema is at version {current}, newer than this bot "
                f"knows ({len(MIGRATIONS)}): run the newer release"
            )
        return max(current, len(MIGRATIONS))


def _current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, schema_version.name):
        return 0
    return int(
        conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one()
    )
