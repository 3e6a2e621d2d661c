"""Background runs: ``POST /runs`` queues a job, ``GET /jobs/{id}`` tells how it went.

One worker thread takes jobs in order, so two runs never write at once. A run
happens inside the app's write session (:meth:`sikta.api.deps.AppState.writing`:
the server holds the file for writing from the start of the run to its end;
CLI commands wait meanwhile), on a connection of its own to the same workspace
(DuckDB shares one database between connections of a process), so this
server's reads keep being answered while a run scores a million accounts; the
new run becomes visible when it commits and the readers' caches are refreshed. Job records live in memory:
they describe this server process, while the runs they create stay in the
workspace. After a run, its ``run.completed`` event goes into the webhook
outbox (in the same write session) and the app's sender delivers it from a
thread of its own: a slow or dead receiver never holds up the next run.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sikta.errors import SiktaError
from sikta.service import runs as runs_svc
from sikta.service import webhooks
from sikta.service.model import Model
from sikta.service.segments import RunReader
from sikta.service.workspace import Workspace

log = logging.getLogger("sikta.api.jobs")
KEEP = 500  # finished jobs remembered


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Jobs:
    """The job queue of one app.

    Parameters
    ----------
    workspace_path
        The workspace the app serves.
    on_run
        Called with the new run id, after the run committed (the app refreshes its reader).
    lock
        The app's workspace lock.
    writing
        The app's write session (:meth:`sikta.api.deps.AppState.writing`).
    sender
        The app's :class:`sikta.service.webhooks.Sender`, told when new events are in the outbox.
    """

    def __init__(self, workspace_path: str | Path, on_run: Callable[[str], None], lock: threading.RLock,
                 writing: Callable[[], AbstractContextManager[Any]], sender: webhooks.Sender | None = None) -> None:
        self.path = Path(workspace_path)
        self.lock = lock
        self.writing = writing
        self.on_run = on_run
        self.sender = sender
        self._queue: queue.Queue = queue.Queue()
        self._jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, model: Model, *, as_of: date | None = None, submitted_by: str | None = None) -> dict[str, Any]:
        """Queue a run of ``model``; returns the job record."""
        job = {"job_id": "job_" + secrets.token_hex(6), "kind": "run", "status": "queued", "created_at": _now(),
               "started_at": None, "finished_at": None, "submitted_by": submitted_by, "model_name": model.name,
               "run_id": None, "error": None, "webhooks": []}
        with self._mutex:
            self._jobs[job["job_id"]] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="sikta-jobs", daemon=True)
                self._thread.start()
        self._queue.put((job["job_id"], model, as_of))
        return dict(job)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._mutex:
            job = self._jobs.get(job_id)
            return None if job is None else dict(job)

    def list(self) -> list[dict[str, Any]]:
        with self._mutex:
            return [dict(j) for j in reversed(self._jobs.values())]

    def _set(self, job_id: str, **changes: Any) -> None:
        with self._mutex:
            if job_id in self._jobs:
                self._jobs[job_id].update(changes)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            job_id, model, as_of = item
            self._set(job_id, status="running", started_at=_now())
            try:
                with self.writing():
                    # opening a workspace discards stage tables left by dead processes; under the
                    # app's lock, no request of this process is in the middle of building one
                    with self.lock:
                        ws = Workspace(self.path)
                    try:
                        summary = runs_svc.create_run(ws, model, as_of=as_of)
                        RunReader(ws).prepare(summary.run_id)  # index it here, off the readers' lock
                        queued = self._enqueue(ws, summary.run_id)
                    finally:
                        ws.close()  # before the write session ends: the app then reopens read-only
                if queued and self.sender is not None:
                    self.sender.poke()
                self.on_run(summary.run_id)
                self._set(job_id, status="done", run_id=summary.run_id, finished_at=_now(), webhooks=queued)
            except SiktaError as exc:
                self._set(job_id, status="failed", finished_at=_now(),
                          error={"type": type(exc).__name__, "message": str(exc)})
                continue
            except Exception:  # noqa: BLE001 - a bug must not kill the worker; the log has the traceback
                log.exception("job %s failed", job_id)
                self._set(job_id, status="failed", finished_at=_now(),
                          error={"type": "InternalError", "message": "the run failed unexpectedly: see the server log"})
                continue

    def _enqueue(self, ws: Workspace, run_id: str) -> list[dict[str, Any]]:
        try:
            return webhooks.enqueue_run(ws, run_id)
        except Exception:  # noqa: BLE001 - the run stands even if queueing its event fails; the log has it
            log.exception("queueing the webhooks of %s failed", run_id)
            return []

    def close(self, timeout: float = 30.0) -> None:
        """Finish the job at hand, drop the rest, close the job connection."""
        if self._thread is not None:
            while not self._queue.empty():
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._set(item[0], status="failed", finished_at=_now(),
                              error={"type": "Cancelled", "message": "the server stopped before the run started"})
            self._queue.put(None)
            self._thread.join(timeout)


__all__ = ["Jobs"]
