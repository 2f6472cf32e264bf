"""Find the learner's own file and line in what a server printed: a traceback or a stack dump."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Tracebacks print `File "x", line 3, in f`; faulthandler's dumps print `File "x", line 3 in f`.
FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:,? in (?P<function>\S+))?')
THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+")
# A traceback starts a line, or follows a log level (uvicorn's `ERROR:    Traceback ...`); one
# quoted inside a line, as a JSON log line carries it, is the app's record of it, not a traceback.
TRACEBACK = re.compile(r"^(?:[A-Z]+:\s+)?Traceback \(most recent call last\):")
LOG_LINE = ("INFO:", "ERROR:", "WARNING:", "Traceback", "{")
"""How a line that is not part of an exception's message begins."""


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str | None

    def describe(self, source_root: Path, shown_as: str) -> str:
        """`labs/lab3/app/main.py, line 12, in slow_fixed: time.sleep(3)`, the code from source."""
        where = f"{self.file}, line {self.line}" + (
            f", in {self.function}" if self.function else ""
        )
        path = source_root / Path(self.file).relative_to(shown_as)
        try:
            code = path.read_text(encoding="utf-8").splitlines()[self.line - 1].strip()
        except (OSError, IndexError, UnicodeDecodeError):
            return where
        return f"{where}: {code}"


def learner_frames(lines: list[str], shown_as: str) -> list[Frame]:
    """The frames, in the order printed, whose file is in the learner's lab folder."""
    frames = []
    for line in lines:
        match = FRAME.match(line)
        if match and match["file"].startswith(shown_as + "/"):
            frames.append(Frame(match["file"], int(match["line"]), match["function"]))
    return frames


def tracebacks(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    """Every traceback printed, in order: its frame lines, and the exception lines that end it."""
    starts = [i for i, line in enumerate(lines) if TRACEBACK.match(line)]
    blocks = []
    for start in starts:
        block = lines[start + 1 :]
        end = next(
            (i for i, text in enumerate(block) if text and not text[0].isspace()), len(block)
        )
        exception = block[end : end + 1]
        # pydantic and others continue the exception's message on the lines below it; a log
        # line (uvicorn's, or a JSON one) is the next thing the app printed.
        for line in block[end + 1 : end + 8]:
            if not line.strip() or line.startswith(LOG_LINE):
                break
            exception.append(line)
        blocks.append((block[:end], exception))
    return blocks


def crash_location(lines: list[str], shown_as: str) -> tuple[str, Frame | None]:
    """The exception that ended the app and the deepest learner frame that led to it."""
    frame_lines, exception = (tracebacks(lines) or [([], [])])[-1]
    frames = learner_frames(frame_lines, shown_as)
    return "\n".join(exception), frames[-1] if frames else None


def busy_frames(dump: list[str], shown_as: str) -> list[Frame]:
    """The innermost learner frame of each thread in a faulthandler dump (most recent first)."""
    found: list[Frame] = []
    in_thread_with_frame = False
    for line in dump:
        if THREAD.match(line):
            in_thread_with_frame = False
        elif not in_thread_with_frame and (frames := learner_frames([line], shown_as)):
            found.append(frames[0])
            in_thread_with_frame = True
    return found


IDLE = ("/threading.py", "/selectors.py", "/queue.py", "/asyncio/runners.py")
"""Where a thread that waits for work, or an event loop that waits for I/O, sits (uvloop's waits
in C, so its thread's innermost Python frame is asyncio's runner)."""


def library_frames(dump: list[str]) -> list[tuple[Frame, bool]]:
    """The innermost frame of each thread in a faulthandler dump that is not idly waiting, and
    whether that thread is the one that took the signal: the main thread, the event loop's. It is
    where an app spends its time outside its own code: a model run inline blocks the event loop,
    one run in a worker thread keeps a thread busy while the learner's code awaits it."""
    found: list[tuple[Frame, bool]] = []
    current, innermost_seen = False, True
    for line in dump:
        if header := THREAD.match(line):
            current, innermost_seen = header[1] == "Current thread", False
        elif not innermost_seen and (match := FRAME.match(line)):
            innermost_seen = True
            if not match["file"].endswith(IDLE):
                frame = Frame(match["file"], int(match["line"]), match["function"])
                found.append((frame, current))
    return found


def shortened(file: str) -> str:
    """A library's file from its package on: `/venv/.../site-packages/chromadb/api.py` →
    `chromadb/api.py`."""
    return file.rpartition("/site-packages/")[2] if "/site-packages/" in file else file
