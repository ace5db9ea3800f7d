"""The keeper thread of ``syndiag serve`` (issue 33): stores the raw clips and snapshots that service/raw_store.py cuts
(encoded here, off the ingestion's and the worker's threads) and runs a retention pass (service/retention.py) every
``retention.every_s``; a failing database is logged and counted, and what was cut waits for the next try."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from syndiag.config.service import RetentionConfig
from syndiag.service.raw_store import RawCapture, Segment, raw_segments
from syndiag.service.retention import Retention
from syndiag.service.store import Store

log = logging.getLogger(__name__)


class Keeper:
    def __init__(self, store: Store, config: RetentionConfig, capture: RawCapture | None, count: Callable[..., None],
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.config, self.capture, self.count, self.clock = store, config, capture, count, clock
        self.retention = Retention(store, config, count)
        self.wakeup = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, name="syndiag-keeper", daemon=True)
        self.waiting: list[Segment] = []
        self.last_pass: dict | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.wakeup.set()
        self.thread.join(timeout=30)

    def run(self) -> None:
        due = time.monotonic() + self.config.every_s
        while True:
            self.wakeup.wait(0.5)
            self.wakeup.clear()
            self.store_raw()
            if self.stopping:
                return
            if time.monotonic() >= due:
                self.run_pass()
                due = time.monotonic() + self.config.every_s

    def store_raw(self) -> int:
        """Encode and store what the capture has cut (a segment already stored, e.g. after a redelivery, is kept once)."""
        self.waiting += self.capture.take() if self.capture is not None else []
        if not self.waiting:
            return 0
        now = self.clock()
        try:
            rows = [segment.row(self.config.raw_encoding, now) for segment in self.waiting]
            with self.store.engine.begin() as connection:
                statement = self.store._dialect_insert(raw_segments, ["key"])
                stored = sum(connection.execute(statement, row).rowcount or 0 for row in rows)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("storing %d raw segments failed (kept for the next try): %s", len(self.waiting), exc)
            self.count("store_errors")
            return 0
        for segment in self.waiting:
            self.count("raw_clips" if segment.kind == "alarm" else "raw_snapshots")
        self.waiting = []
        return stored

    def run_pass(self) -> dict | None:
        started = time.monotonic()
        try:
            self.last_pass = {**self.retention.run(self.clock()), "seconds": round(time.monotonic() - started, 3), "at": self.clock()}
        except (SQLAlchemyError, OSError) as exc:
            log.warning("a retention pass failed (the next one tries again): %s", exc)
            self.count("store_errors")
        return self.last_pass
