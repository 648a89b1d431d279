"""Start-up validation: a bad setting stops the app with one line naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.config import SETTINGS, ConfigError, load_config, read_settings, validate

ROOT = Path(__file__).resolve().parents[2]

BAD_SETTINGS = [
    ({"DATABASE_URL": "postgresql//no-scheme-separator"}, "DATABASE_URL"),
    ({"DATABASE_URL": "mysql://root@localhost/ouderkamer"}, "DATABASE_URL"),
    ({"S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "S3_BUCKET"),
    ({"S3_BUCKET": "media", "S3_ACCESS_KEY_ID": "key"}, "S3_SECRET_ACCESS_KEY"),
    ({"JAAS_APP_ID": "vpaas-magic-cookie-abc", "JAAS_KEY_ID": "vpaas-magic-cookie-abc/123"}, "JAAS_PRIVATE_KEY"),
    ({"JITSI_APP_ID": "ouderkamer"}, "JITSI_APP_SECRET"),
    ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT"),
    ({"OUDERKAMER_ENV": "production"}, "SECRET_KEY"),
]


def _clean_env(tmp_path: Path, extra: dict) -> dict:
    names = {s.name for s in SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({"INSTANCE_PATH": str(tmp_path), **extra})
    return env


@pytest.mark.parametrize(("settings", "named"), BAD_SETTINGS)
def test_startup_with_bad_setting_exits_with_one_line_naming_it(tmp_path, settings, named):
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=_clean_env(tmp_path, settings),
                            capture_output=True, text=True, timeout=60)

    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ouderkamer: configuration error: {named}:")


def test_startup_with_no_settings_uses_embedded_defaults(tmp_path):
    code = "import wsgi; c = wsgi.app.config; print(c['SQLALCHEMY_DATABASE_URI']); print(type(wsgi.huey).__name__)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_clean_env(tmp_path, {}),
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"sqlite:///{tmp_path / 'ouderkamer.sqlite'}", "SqliteHuey"]


def test_validate_accepts_a_complete_s3_and_jaas_setup(tmp_path):
    key = tmp_path / "jaas.pem"
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    settings = read_settings({"S3_BUCKET": "media", "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
                              "S3_ACCESS_KEY_ID": "k", "S3_SECRET_ACCESS_KEY": "s", "JAAS_APP_ID": "vpaas-x",
                              "JAAS_KEY_ID": "vpaas-x/1", "JAAS_PRIVATE_KEY_PATH": str(key)})

    assert validate(settings) is None


def test_validate_rejects_both_jitsi_modes_at_once():
    settings = read_settings({"JITSI_APP_ID": "a", "JITSI_APP_SECRET": "b", "JAAS_APP_ID": "vpaas-x",
                              "JAAS_KEY_ID": "vpaas-x/1", "JAAS_PRIVATE_KEY": "pem"})

    with pytest.raises(ConfigError) as info:
        validate(settings)

    assert info.value.setting == "JAAS_APP_ID"


def test_load_config_generates_and_keeps_a_secret_key(tmp_path):
    first = load_config(env={"INSTANCE_PATH": str(tmp_path)})
    second = load_config(env={"INSTANCE_PATH": str(tmp_path)})

    assert len(first["SECRET_KEY"]) >= 32
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()

    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]

    assert missing == []
