"""Background tasks of the parent portal: the trainers' notice of a deletion request, and the deletions when due."""

from __future__ import annotations

from flask import render_template
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from huey import crontab

from core import mail
from core.extensions import db
from core.queue import periodic_task, task
from courses.models import Parent
from parents import privacy


@task(name="parents.send_deletion_notice", retries=3, retry_delay=30)
def send_deletion_notice(parent_id: int, *, cancelled: bool = False) -> None:
    """Mail the trainers of the parent's courses that the parent asked for deletion (or withdrew it); SMTP or log."""
    parent = db.session.get(Parent, parent_id)
    if parent is None or (parent.deletion_requested_at is None) != cancelled:
        return  # deleted already, or the request changed again before this ran
    trainers = {t.id: t for e in parent.enrolments for t in e.course.trainers if t.active}
    due = privacy.deletion_due_at(parent)
    for trainer in trainers.values():
        with force_locale(trainer.language):
            subject = (_("%(name)s wil toch niet dat de gegevens worden verwijderd", name=parent.name) if cancelled
                       else _("%(name)s vraagt om verwijdering van de gegevens", name=parent.name))
            text = render_template("parents/deletion_notice.txt", trainer=trainer, parent=parent,
                                   cancelled=cancelled, due=format_date(due, "long") if due else "")
        mail.send_message(mail.build_message(sender=mail.default_sender(), to=[trainer.email], subject=subject,
                                             text=text, language=trainer.language))


@periodic_task(crontab(minute="17"), name="parents.delete_requested")
def delete_requested_parents() -> None:
    """Delete every parent whose deletion request is past the grace period (rows and storage), one commit each."""
    for parent_id in privacy.due_deletions():
        parent = db.session.get(Parent, parent_id)
        if parent is not None and parent.deletion_requested_at is not None:
            privacy.delete_parent(parent)
            db.session.commit()
