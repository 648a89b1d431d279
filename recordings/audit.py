"""`flask storage audit [--repair]`: objects without a live recording, and published recordings missing objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.extensions import db
from core.storage import Storage, get_storage
from courses.models import Course
from recordings import pipeline
from recordings.models import Recording
from recordings.publish import is_expired, uuid_of_key

ROOT = "recordings/"  # recordings from before organisations; newer ones live under orgs/<id>/recordings/
ORGS = "orgs/"
MSG_MISSING = _l("Een deel van de opname ontbreekt in de opslag. Probeer het opnieuw.")

storage_cli = AppGroup("storage", help="Check media storage against the recordings.")


@dataclass
class AuditReport:
    """What the audit found: orphan keys (no recording, or an expired one) and missing keys per recording id."""

    orphans: list[str] = field(default_factory=list)
    missing: dict[int, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.orphans and not self.missing


def _recordings_by_uuid(uuids: set[str]) -> dict[str, Recording]:
    if not uuids:
        return {}
    return {r.uuid: r for r in db.session.scalars(select(Recording).where(Recording.uuid.in_(uuids)))}


def _expected_keys(recording: Recording) -> list[str]:
    prefix = recording.published_prefix or f"{ROOT}{recording.uuid}/"
    return sorted(prefix + name for name in recording.renditions or {})


def _listed(storage: Storage, organisation_id: int | None) -> list[str]:
    if organisation_id is not None:  # one tenant: its own prefix (what a per-tenant bucket policy grants)
        return storage.list(f"{ORGS}{organisation_id}/recordings/")
    return storage.list(ROOT) + [key for key in storage.list(ORGS) if uuid_of_key(key)]


def audit_storage(storage: Storage | None = None, *, organisation_id: int | None = None) -> AuditReport:
    """Compare every recording object (of one organisation, or all) with the recordings table (network: one or
    two listings; no changes)."""
    storage = storage or get_storage()
    keys = _listed(storage, organisation_id)
    if organisation_id is not None:  # its recordings published before organisations live in the shared folder
        keys += [k for r in _published(organisation_id) if (r.published_prefix or "").startswith(ROOT)
                 for k in storage.list(r.published_prefix)]
    by_uuid = _recordings_by_uuid({u for u in map(uuid_of_key, keys) if u})
    report = AuditReport()
    for key in keys:
        recording = by_uuid.get(uuid_of_key(key) or "")
        if recording is None or is_expired(recording):
            report.orphans.append(key)
    stored = set(keys)
    for recording in _published(organisation_id):
        lacking = [key for key in _expected_keys(recording) if key not in stored]
        if lacking and not is_expired(recording):
            report.missing[recording.id] = lacking
    return report


def _published(organisation_id: int | None) -> list[Recording]:
    # In review or published: both have every rendition in storage.
    query = select(Recording).where(Recording.state.in_(list(pipeline.STORED))).order_by(Recording.id)
    if organisation_id is not None:
        query = query.join(Course).where(Course.organisation_id == organisation_id)
    return list(db.session.scalars(query))


def repair(report: AuditReport, storage: Storage | None = None) -> None:
    """Delete the orphan objects and mark recordings with missing objects failed (step publishing); flushes."""
    storage = storage or get_storage()
    for key in report.orphans:
        storage.delete(key)
    for recording_id in report.missing:
        pipeline.fail(db.session.get(Recording, recording_id), pipeline.PUBLISH, str(MSG_MISSING))
    db.session.flush()


def format_report(report: AuditReport) -> str:
    """The audit as plain lines for the terminal."""
    if report.ok:
        return "Storage is consistent: every object belongs to a live recording and nothing is missing."
    lines = [f"{len(report.orphans)} object(s) without a live recording (no row, or expired):"]
    lines += [f"  {key}" for key in report.orphans]
    lines.append(f"{len(report.missing)} published recording(s) with missing objects:")
    for recording_id, keys in report.missing.items():
        lines.append(f"  recording {recording_id}: {len(keys)} missing")
        lines += [f"    {key}" for key in keys]
    return "\n".join(lines)


@storage_cli.command("audit")
@click.option("--repair", "do_repair", is_flag=True,
              help="Delete orphan objects and mark recordings with missing objects failed, so they can be retried.")
@click.option("--org", "organisation_id", type=int, default=None,
              help="Only this organisation's objects (orgs/<id>/...) and recordings.")
def audit_command(do_repair: bool, organisation_id: int | None) -> None:
    """Report objects without a recording and recordings without their objects; exit 1 if anything was wrong."""
    report = audit_storage(organisation_id=organisation_id)
    click.echo(format_report(report))
    if report.ok:
        return
    if do_repair:
        repair(report)
        db.session.commit()
        click.echo(f"Repaired: deleted {len(report.orphans)} object(s), marked {len(report.missing)} "
                   "recording(s) failed (the trainer can retry publishing on the status page).")
    raise SystemExit(1)  # also after a repair, so a cron job still reports that something was wrong
