"""The framework's limit for bench/join_storm.py: a bare Flask endpoint doing one indexed read, nothing else.

Served by gunicorn exactly like the product (`gunicorn -w 2 --pythonpath bench bare_app:app`), on the same
database (DATABASE_URL). Not part of the product.
"""

import hashlib
import os

from flask import Flask, jsonify
from sqlalchemy import create_engine, text

app = Flask(__name__)
_url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
engine = create_engine(_url, pool_pre_ping=False)
QUERY = text("SELECT id, name, language FROM parents WHERE link_token_hash = :digest")


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/bare/<token>")
def bare(token: str):
    with engine.connect() as conn:
        row = conn.execute(QUERY, {"digest": hashlib.sha256(token.encode()).hexdigest()}).first()
    if row is None:
        return jsonify(error="not found"), 404
    return jsonify(id=row.id, name=row.name, language=row.language)
