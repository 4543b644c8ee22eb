"""Independent pieces of one step side by side on a few threads.

A step's pieces that write to different tables (the five extracts of a day, SQL models whose refs
are done) leave a core idle when they run one after another: each waits on the warehouse in turn
(reads, COPY, hashing in DuckDB and Arrow release the GIL). On PostgreSQL they run ``LANES`` at a
time; SQLite has one writer, so there they run one at a time in the step's own thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TypeVar

from sqlalchemy.engine import Engine

T = TypeVar("T")

LANES = 2
"""pieces of a step at a time on PostgreSQL (one per core of the machine this was measured on)"""


def lanes_for(engine: Engine) -> int:
    return LANES if engine.dialect.name == "postgresql" else 1


def side_by_side(work: dict[str, Callable[[], T]], lanes: int, thread_name: str = "lane") -> Iterator[tuple[str, T]]:
    """Run each ``work[name]()``, at most ``lanes`` at a time, started in the order given (longest
    first keeps the lanes even); yield ``(name, result)`` as each finishes. After a failure nothing
    new starts; the first failure is raised once the running pieces are done (what finished before
    it has been yielded)."""
    if lanes <= 1:
        for name, piece in work.items():
            yield name, piece()
        return
    waiting = list(work.items())
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix=thread_name) as pool:
        running: dict = {}
        while waiting or running:
            while failure is None and waiting and len(running) < lanes:
                name, piece = waiting.pop(0)
                running[pool.submit(piece)] = name
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    result = future.result()
                except BaseException as exc:  # noqa: BLE001 - raised below, after the running pieces end
                    failure = failure or exc
                    continue
                yield name, result
    if failure is not None:
        raise failure
