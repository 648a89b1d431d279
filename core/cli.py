"""`flask worker`: the Huey consumer for this app's queue."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from core.queue import huey


@click.command("worker")
@click.option("--workers", "-w", type=int, default=None, help="Worker threads (default: the WORKERS setting).")
@click.option("--no-periodic", is_flag=True, help="Do not schedule periodic tasks (all consumers but one).")
@with_appcontext
def worker_command(workers: int | None, no_periodic: bool) -> None:
    """Run the background worker until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    count = workers or current_app.config["WORKERS"]
    click.echo(f"Worker: {count} thread(s) on {type(huey.storage).__name__}", err=True)
    huey.create_consumer(workers=count, worker_type="thread", periodic=not no_periodic).run()
