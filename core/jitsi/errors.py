"""The Jitsi adapter's errors: a failed call or value, bad settings, a bad JaaS webhook signature."""


class JitsiError(Exception):
    """A Jitsi call or value failed; `status` is the HTTP status of the answer, if there was one."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class JitsiConfigError(JitsiError):
    """The Jitsi settings are missing, malformed or inconsistent; `setting` names the config key."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class JitsiSignatureError(JitsiError):
    """A JaaS webhook signature is missing, malformed, stale or wrong."""
