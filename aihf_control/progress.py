"""Progress of long work: one line per task in progress, live on a terminal, plain periodic lines in a log.

Like SB3's ``learn(progress_bar=True)`` (a rich bar), with what a long run needs beside the steps: their
speed, the latest evaluation, the time left, and tasks that run in other processes::

    aihf_prefs2000_seed0 ━━━━━━━━╸━━━━━━━━━━━  12,000/30,000 env steps · 41 steps/s · eval return 1,234.5 (score 38)
                                              · 0:04:52 elapsed · 0:07:19 left

- :class:`Tracker` follows one task (env steps of ``learn``, episodes being recorded, frames being rendered)
  and reports its :class:`Status` at most once a second, and at once when its latest return changes.
- :class:`ProgressCallback` is the SB3 callback that drives a tracker from ``learn``.
- A report goes to :meth:`ProgressPrinter.update` in the same process, or, for tasks in other processes
  (a pool, Ray tasks), to :func:`write_status`: a small JSON file per task in a folder that the parent's
  :meth:`ProgressPrinter.watch` polls.
- :class:`ProgressPrinter` draws a rich live display, one line per task in progress, when stdout is a terminal;
  otherwise (CI logs, ``nohup``) it prints a plain line per task when it starts, every ``interval`` seconds,
  and when it ends.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from stable_baselines3.common.callbacks import BaseCallback

Report = Callable[["Status"], None]


@dataclass(frozen=True)
class Status:
    """Where one task stands.

    :param name: the task, e.g. a benchmark run's name
    :param done: units done
    :param total: units in all, None if unknown
    :param unit: what is counted, e.g. ``"env steps"``
    :param rate: units per second lately, None before two reports
    :param elapsed: seconds since the task started
    :param last_return: the latest return to show, e.g. of an evaluation; None for none
    :param last_score: its normalised score, None for none
    :param return_label: what ``last_return`` is, e.g. ``"eval return"``
    :param finished: the task is done
    """

    name: str
    done: int
    total: int | None
    unit: str = "env steps"
    rate: float | None = None
    elapsed: float = 0.0
    last_return: float | None = None
    last_score: float | None = None
    return_label: str = "eval return"
    finished: bool = False

    @property
    def seconds_left(self) -> float | None:
        """The time left at the recent rate, None when unknown."""
        if self.total is None or not self.rate:
            return None
        return max(0, self.total - self.done) / self.rate

    def describe(self) -> str:
        """The line shown after the task's name: counts, speed, return, times."""
        count = f"{self.done:,}" if self.total is None else f"{self.done:,}/{self.total:,}"
        parts = [f"{count} {self.unit}"]
        if self.rate is not None and not self.finished:
            rate = f"{self.rate:,.0f}" if self.rate >= 10 else f"{self.rate:.1f}"
            parts.append(f"{rate} {self.unit.split()[-1]}/s")
        if self.last_return is not None:
            score = "" if self.last_score is None else f" (score {round(self.last_score)})"
            parts.append(f"{self.return_label} {self.last_return:,.1f}{score}")
        parts.append(f"{clock(self.elapsed)} elapsed")
        if self.finished:
            parts.append("done")
        elif self.seconds_left is not None:
            parts.append(f"{clock(self.seconds_left)} left")
        return " · ".join(parts)


def clock(seconds: float) -> str:
    """``h:mm:ss``.

    :param seconds: a duration
    """
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class Tracker:
    """Follows one task and reports its :class:`Status`: at most every ``every`` seconds, and at once when the
    latest return changes or the task ends.

    :param name: the task
    :param total: units in all, None if unknown
    :param report: where statuses go: :meth:`ProgressPrinter.update`, or a :func:`write_status` partial
    :param unit: what is counted
    :param return_label: what the returns passed to :meth:`update` are
    :param every: seconds between two reports
    """

    def __init__(
        self,
        name: str,
        total: int | None,
        report: Report,
        unit: str = "env steps",
        return_label: str = "eval return",
        every: float = 1.0,
    ) -> None:
        self.status = Status(name, 0, total, unit, return_label=return_label)
        self.report, self.every = report, every
        self._start = time.perf_counter()
        self._marks: deque[tuple[float, int]] = deque(maxlen=30)  # (time, done) of recent reports: the rate
        self._last_report = -float("inf")

    def update(
        self,
        done: int,
        last_return: float | None = None,
        last_score: float | None = None,
        force: bool = False,
        total: int | None = None,
    ) -> None:
        """Record progress; report it if ``every`` seconds have passed, the return changed, or ``force``.

        :param done: units done so far
        :param last_return: the latest return, if any
        :param last_score: its normalised score, if any
        :param force: report now
        :param total: units in all, if known only now
        """
        now = time.perf_counter()
        changed = last_return != self.status.last_return
        total = self.status.total if total is None else total
        self.status = replace(self.status, done=done, total=total, last_return=last_return, last_score=last_score)
        if force or changed or now - self._last_report >= self.every:
            self._marks.append((now, done))
            (then, done_then), (now, done_now) = self._marks[0], self._marks[-1]
            rate = (done_now - done_then) / (now - then) if now > then else self.status.rate
            self.status = replace(self.status, rate=rate, elapsed=now - self._start)
            self._last_report = now
            self.report(self.status)

    def finish(self, **changes: Any) -> None:
        """Report the task as done.

        :param changes: fields of the last :class:`Status` to change, e.g. ``last_return`` and
            ``return_label="final return"``
        """
        self.status = replace(self.status, **changes, finished=True, elapsed=time.perf_counter() - self._start)
        self.report(self.status)


class ProgressCallback(BaseCallback):
    """Reports the progress of ``learn``: env steps of ``total``, speed, the latest evaluation and time left.

    Place it after the evaluation callback in the list, so that it sees each evaluation as it happens. It
    neither draws random numbers nor touches the model: a run gives the same results with it and without.

    :param name: the task, e.g. the run's name
    :param total: the env steps the run will have done at its end (a resumed run's earlier steps count)
    :param report: where statuses go (see :class:`Tracker`)
    :param last_return: the latest return to show, e.g. from a ``TrueReturnEvalCallback``'s curve; None for none
    :param score: a return's normalised score, e.g. 0 = random policy, 100 = demonstrator
    :param unit: what ``num_timesteps`` counts (BC: gradient steps)
    :param return_label: what ``last_return`` is
    :param every: seconds between two reports
    """

    def __init__(
        self,
        name: str,
        total: int,
        report: Report,
        last_return: Callable[[], float | None] | None = None,
        score: Callable[[float], float | None] | None = None,
        unit: str = "env steps",
        return_label: str = "eval return",
        every: float = 1.0,
    ) -> None:
        super().__init__()
        self.tracker = Tracker(name, total, report, unit, return_label, every)
        self.last_return, self.score = last_return, score

    def _on_training_start(self) -> None:
        self._report(force=True)

    def _on_step(self) -> bool:
        self._report()
        return True

    def _on_training_end(self) -> None:
        self._report(force=True)

    def finish(self, final_return: float | None = None, final_score: float | None = None) -> None:
        """Report the run as done, with its final return if given, else its latest one.

        :param final_return: the return that sums the run up, e.g. the mean of its last evaluations
        :param final_score: its normalised score
        """
        self._report(force=True)
        if final_return is not None:
            self.tracker.finish(last_return=final_return, last_score=final_score, return_label="final return")
        else:
            self.tracker.finish()

    def _report(self, force: bool = False) -> None:
        latest = self.last_return() if self.last_return is not None else None
        score = self.score(latest) if self.score is not None and latest is not None else None
        self.tracker.update(self.num_timesteps, latest, score, force)


def write_status(folder: str | Path, status: Status) -> None:
    """Write ``status`` to ``folder/<name>.json`` atomically (for :meth:`ProgressPrinter.watch`).

    :param folder: the folder that the parent process watches
    :param status: the task's status
    """
    path = Path(folder) / f"{status.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(status)))
    os.replace(temporary, path)


def read_statuses(folder: str | Path) -> list[Status]:
    """The statuses in ``folder``, by name; a file being replaced is skipped until the next read.

    :param folder: a folder of :func:`write_status` files
    """
    statuses = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            statuses.append(Status(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return statuses


class ProgressPrinter:
    """Shows tasks' progress: a rich live display with one line per task in progress on a terminal, plain
    lines otherwise (when a task starts, every ``interval`` seconds, when it ends); ``enabled=False``
    (``--quiet``) shows nothing. The live display starts with the first task and stops when no task is left
    in progress (or, while watching a folder, at :meth:`close`; use the printer as a context manager then).

    :param live: draw live lines; None: when stdout is a terminal (rich decides, as for SB3's bar)
    :param interval: seconds between two plain lines of a task
    :param enabled: show anything at all
    :param file: where to print; None: stdout
    """

    def __init__(
        self, live: bool | None = None, interval: float = 30.0, enabled: bool = True, file: IO[str] | None = None
    ) -> None:
        self.console = Console(file=file, markup=False, highlight=False, emoji=False)  # names are shown as they are
        self.live = self.console.is_terminal if live is None else live
        self.interval, self.enabled = interval, enabled
        self.progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._latest: dict[str, Status] = {}
        self._done: set[str] = set()  # tasks whose last line is printed (live display)
        self._printed: dict[str, tuple[float, Status]] = {}  # the time and status of each task's last plain line
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._folder: str | Path = ""

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def update(self, status: Status) -> None:
        """Show ``status``: its live line, or a plain line if the task is new, finished, or not printed for
        ``interval`` seconds.

        :param status: a task's status
        """
        if not self.enabled:
            return
        with self._lock:
            self._latest[status.name] = status
            if self.live:
                self._update_live(status)
                return
            printed = self._printed.get(status.name)
            if printed is not None and printed[1] == status:
                return
            due = printed is None or time.monotonic() - printed[0] >= self.interval
            if due or (status.finished and not printed[1].finished):
                self.console.print(f"{status.name}: {status.describe()}", soft_wrap=True)
                self._printed[status.name] = (time.monotonic(), status)

    def _update_live(self, status: Status) -> None:
        task = self._tasks.get(status.name)
        if status.finished:
            if status.name not in self._done:  # a line that stays, above the live ones
                self._done.add(status.name)
                if task is not None and self.progress is not None:
                    self.progress.remove_task(self._tasks.pop(status.name))
                self.console.print(f"{status.name}: {status.describe()}", soft_wrap=True)
                if not self._tasks and self._watcher is None:
                    self._stop_live()
            return
        self._done.discard(status.name)  # a task that starts again
        if self.progress is None:
            columns = (TextColumn("{task.description}", markup=False), BarColumn(bar_width=24))
            columns += (TextColumn("{task.fields[line]}", markup=False),)
            self.progress = Progress(*columns, console=self.console, refresh_per_second=2)
            self.progress.start()
            atexit.register(self._stop_live)  # if an error ends the program first: the terminal's cursor back
        if task is None:
            task = self._tasks[status.name] = self.progress.add_task(status.name, total=status.total, line="")
        self.progress.update(task, completed=status.done, total=status.total, line=status.describe())

    def _stop_live(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress, self._tasks = None, {}
            atexit.unregister(self._stop_live)

    def watch(self, folder: str | Path, every: float = 0.5) -> None:
        """Poll ``folder`` for :func:`write_status` files of tasks in other processes until :meth:`close`.

        :param folder: the folder the tasks write to
        :param every: seconds between two polls
        """
        if not self.enabled:
            return

        def poll() -> None:
            while not self._stop.wait(every):
                self._read(folder)

        self._folder = folder
        self._watcher = threading.Thread(target=poll, name="progress-watcher", daemon=True)
        self._watcher.start()

    def _read(self, folder: str | Path) -> None:
        for status in read_statuses(folder):
            self.update(status)

    def close(self) -> None:
        """Read the watched folder a last time, print the last state of each task, and stop drawing."""
        if self._watcher is not None:
            self._stop.set()
            self._watcher.join()
            self._watcher = None
            self._read(self._folder)
        if not self.enabled:
            return
        with self._lock:
            self._stop_live()
            for name, (_, printed) in list(self._printed.items()):
                latest = self._latest.get(name)
                if latest is not None and latest != printed:
                    self.console.print(f"{name}: {latest.describe()}", soft_wrap=True)
