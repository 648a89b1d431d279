"""Running ffprobe and ffmpeg: the binaries, demuxer whitelists, timeouts, progress and stderr tails."""

import os
import subprocess
import threading
from pathlib import Path

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
# Demuxers a recording or phone clip can arrive in; anything else (an HLS or concat playlist renamed to
# .mp4, an image, text) is refused before it can make ffmpeg read other files.
SOURCE_FORMATS = "mov,matroska,avi,mpegts"
# Voice messages: a phone's recorder app (m4a/3gp, amr, mp3, wav) or the browser's MediaRecorder (webm, ogg, mp4).
AUDIO_FORMATS = "mov,matroska,ogg,mp3,wav,aac,amr"
GLOBAL_ARGS = ("-nostdin", "-nostats", "-loglevel", "warning", "-progress", "pipe:1")
PROBE_TIMEOUT_S = 120
STDERR_TAIL_BYTES = 2000


class MediaError(Exception):
    """A source we cannot use, or a failed ffprobe/ffmpeg run; `detail` holds the tail of its stderr."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


def run_ffprobe(path, *args: str, formats: str = SOURCE_FORMATS) -> subprocess.CompletedProcess:
    """Run ffprobe on `path` with only the file protocol and `formats` allowed; raise MediaError on timeout."""
    argv = [FFPROBE, "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", formats, *args]
    try:
        return subprocess.run(
            [*argv, input_path(path)], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffprobe took longer than {PROBE_TIMEOUT_S} s") from exc


def input_path(path) -> str:
    """The absolute path as a string, so that a name like "http:x.mp4" can never read as a protocol."""
    return os.fspath(Path(path).absolute())


def compile_argv(stream) -> list[str]:
    """Compile an ffmpeg-python graph to an ffmpeg argv with our global arguments, overwriting outputs."""
    return stream.global_args(*GLOBAL_ARGS).compile(cmd=FFMPEG, overwrite_output=True)


def run_ffmpeg(argv, *, duration_s: float, timeout_s: float, on_progress=None, stderr_path) -> None:
    """Run ffmpeg, report progress fractions to `on_progress`, kill it after `timeout_s`; stderr goes to a file."""
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    except OSError as exc:
        raise MediaError(f"cannot start {argv[0]}: {exc}") from exc
    timed_out = threading.Event()
    timer = threading.Timer(timeout_s, lambda: (timed_out.set(), proc.kill()))
    timer.start()
    try:
        _follow_progress(proc.stdout, duration_s, on_progress)
        status = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if timed_out.is_set():
        raise MediaError(f"ffmpeg took longer than {timeout_s:g} s and was stopped", _tail(stderr_path))
    if status != 0:
        tail = _tail(stderr_path)
        last_line = (tail.strip().splitlines() or [""])[-1]
        raise MediaError(f"ffmpeg exited with status {status}: {last_line}", tail)


def _follow_progress(lines, duration_s: float, on_progress) -> None:
    reported = 0.0
    for raw in lines:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "progress" and value == "end":
            fraction = 1.0
        elif key in ("out_time_us", "out_time_ms") and value.isdigit():
            fraction = min(int(value) / 1e6 / duration_s, 1.0)  # both keys are microseconds
        else:
            continue
        if fraction > reported:
            reported = fraction
            if on_progress is not None:
                on_progress(fraction)


def _tail(path) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - STDERR_TAIL_BYTES))
        return fh.read().decode(errors="replace")
