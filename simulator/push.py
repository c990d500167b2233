"""Push notifications to subscribed callback URLs, retried with backoff like the platform."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("simulator.push")

PUSH_TIMEOUT_SECONDS = 5.0
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
MAX_RECORDED_PUSHES = 5000


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    url: str = field(compare=False)
    body: dict[str, Any] = field(compare=False)
    first_at: float = field(compare=False)
    attempt: int = field(compare=False, default=1)
    generation: int = field(compare=False, default=0)
    push_id: str = field(compare=False, default="")


class Pusher:
    """A scheduler thread plus a few sender threads; `reset()` drops everything queued."""

    def __init__(
        self,
        *,
        retry_seconds: float,
        urls_for: Callable[[str], list[str]],
        duplicates: Callable[[], bool],
    ) -> None:
        self.retry_seconds = retry_seconds
        self._urls_for = urls_for
        self._duplicates = duplicates
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._generation = 0
        self._records: list[dict[str, Any]] = []
        self._stopping = False
        self._senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="push")
        self._thread = threading.Thread(target=self._run, name="push-scheduler", daemon=True)
        self._thread.start()

    # called by the state, with the notifyType the body belongs to
    def notify(self, notify_type: str, body: dict[str, Any]) -> None:
        copies = 2 if self._duplicates() else 1
        now = time.time()
        with self._cond:
            for url in self._urls_for(notify_type):
                push_id = f"p{next(self._ids)}"
                for _ in range(copies):
                    heapq.heappush(
                        self._heap,
                        _Job(
                            now,
                            next(self._seq),
                            url,
                            body,
                            now,
                            generation=self._generation,
                            push_id=push_id,
                        ),
                    )
            self._cond.notify()

    def records(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(r) for r in self._records]

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def reset(self) -> None:
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self._records.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0].due > time.time()):
                    wait = self._heap[0].due - time.time() if self._heap else None
                    self._cond.wait(timeout=wait)
                if self._stopping:
                    return
                job = heapq.heappop(self._heap)
            try:
                self._senders.submit(self._send, job)
            except RuntimeError:
                return  # shutting down

    def _send(self, job: _Job) -> None:
        data = json.dumps(job.body).encode()
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked upstream
            job.url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        status: int | None = None
        error = ""
        try:
            with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_SECONDS) as answer:  # noqa: S310
                status = answer.status
                answer.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        with self._cond:
            if job.generation != self._generation:
                return
            self._records.append(
                {
                    "id": job.push_id,
                    "url": job.url,
                    "body": job.body,
                    "status": status,
                    "attempt": job.attempt,
                    "time": time.time(),
                    "ok": ok,
                    "error": error,
                }
            )
            del self._records[:-MAX_RECORDED_PUSHES]
            if ok:
                log.info(
                    "push %s %s %s → %s",
                    job.push_id,
                    job.body.get("notifyType"),
                    _origin(job.url),
                    status,
                )
                return
            delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (job.attempt - 1))
            if time.time() + delay > job.first_at + self.retry_seconds:
                log.warning(
                    "push %s %s gave up after %d attempts",
                    job.push_id,
                    _origin(job.url),
                    job.attempt,
                )
                return
            log.info(
                "push %s %s failed (%s), retry in %.1fs",
                job.push_id,
                _origin(job.url),
                error,
                delay,
            )
            job.attempt += 1
            job.due = time.time() + delay
            job.seq = next(self._seq)
            heapq.heappush(self._heap, job)
            self._cond.notify()


def _origin(url: str) -> str:
    """Scheme, host and port only: callback paths often carry a secret."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
