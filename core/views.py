"""Pages that belong to no domain: home, language switch, health check."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import text

from core.extensions import db

bp = Blueprint("core", __name__)


@bp.route("/")
def home():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))  # the trainer's "today and next"
    return render_template("core/home.html")


@bp.route("/language/<lang>", methods=["POST"])
def set_language(lang: str):
    # A POST with a CSRF token (checked by CSRFProtect); the choice is remembered in the session.
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    target = request.form.get("next", "")
    safe = target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
    return redirect(target if safe else url_for("core.home"))


@bp.route("/favicon.ico")
def favicon():
    # Browsers and apps ask for /favicon.ico whatever the page links: answer it instead of a 404 on every page.
    response = current_app.send_static_file("favicon.ico")
    response.headers["Cache-Control"] = "public, max-age=604800"
    return response


@bp.route("/healthz")
def healthz():
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
