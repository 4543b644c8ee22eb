"""Independent pieces of one step side by side on a few threads.

A step's pieces that write to different tables (the five extracts of a day, a day's checks, SQL
models once the models they read are done) leave a core idle when they run one after another:
each waits on the warehouse in turn (reads, COPY, hashing in DuckDB and Arrow release the GIL). On
PostgreSQL they run ``LANES`` at a time; SQLite has one writer, so there they run one at a time in
the step's own thread.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TypeVar

from sqlalchemy.engine import Engine

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

LANES = 2
"""pieces of a step at a time on PostgreSQL (one per core of the machine this was measured on)"""


def lanes_for(engine: Engine) -> int:
    return LANES if engine.dialect.name == "postgresql" else 1


def side_by_side(work: dict[K, Callable[[], T]], lanes: int, thread_name: str = "lane",
                 after: dict[K, Iterable[K]] | None = None) -> Iterator[tuple[K, T]]:
    """Run each ``work[name]()``, at most ``lanes`` at a time, each once the pieces ``after[name]``
    names (among ``work``) are done, otherwise in the order given (longest first keeps the lanes
    even); yield ``(name, result)`` as each finishes. After a failure nothing new starts; the first
    failure is raised once the running pieces are done (what finished before it has been yielded)."""
    order = graphlib.TopologicalSorter({name: [d for d in (after or {}).get(name, ()) if d in work] for name in work})
    order.prepare()
    if lanes <= 1:
        while order.is_active():
            for name in order.get_ready():
                yield name, work[name]()
                order.done(name)
        return
    waiting: list[K] = []
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix=thread_name) as pool:
        running: dict = {}
        while order.is_active():
            waiting += order.get_ready()
            while failure is None and waiting and len(running) < lanes:
                name = waiting.pop(0)
                running[pool.submit(work[name])] = name
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
                order.done(name)
                yield name, result
    if failure is not None:
        raise failure
