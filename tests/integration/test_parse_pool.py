"""Parse workers: real worker processes, and what happens when one dies, hangs or never starts."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from bench.generate import generate_catalog
from bot.catalog._parse_worker import READY
from bot.catalog.files import FileRead, FileTree, walk
from bot.catalog.parsepool import ParsePool
from bot.catalog.yamlload import parse_documents

DOC = b"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: c%d\n"


def big_file(docs: int) -> bytes:
    return b"---\n".join(DOC % i for i in range(docs))


def test_a_generated_catalog_reads_the_same_with_and_without_workers(tmp_path: Path) -> None:
    cat = generate_catalog(tmp_path / "cat", 150)
    tree = FileTree(cat.root)
    entry = cat.location_file.relative_to(cat.root).as_posix()
    here = walk(tree, entry, {}, prepare=True)
    there = walk(tree, entry, {}, workers=2, parallel_min_bytes=0, prepare=True)

    def seen(read: FileRead) -> tuple[object, ...]:
        return (read.path, read.sha256, read.children, read.problems, read.prepared)

    assert [seen(r) for r in there] == [seen(r) for r in here]
    assert sum(len(r.prepared[0]) for r in there if r.prepared) == cat.entities - 1  # Location


def test_results_match_the_parse_in_this_process() -> None:
    files = {f"f{i}.yaml": DOC % i for i in range(40)}
    files["broken.yaml"] = b"kind: [\n"
    files["binary.yaml"] = b"\x00\x01"
    with ParsePool(2) as pool:
        jobs = {name: pool.submit(name, data) for name, data in files.items()}
        for name, job in jobs.items():
            parsed, prepared = pool.result(job)
            assert prepared is None
            assert parsed == parse_documents(files[name], name)


def test_a_worker_killed_mid_batch_costs_nothing_its_files_are_parsed_again() -> None:
    data = big_file(20_000)  # a second or more of parsing: time to kill the worker at it
    with ParsePool(1) as pool:
        job = pool.submit("big.yaml", data)
        small = pool.submit("small.yaml", DOC % 1)
        deadline = time.monotonic() + 10
        worker = pool._workers[0]
        while not (worker.ready and worker.in_flight) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pool._workers[0].proc.pid, signal.SIGKILL)
        parsed, _ = pool.result(job)
        assert len(parsed.documents) == 20_000 and parsed.complete
        assert pool.result(small)[0].documents[0].data["metadata"]["name"] == "c1"
        assert pool.crashes == 1


def test_a_file_that_takes_too_long_is_reported_and_the_others_are_parsed() -> None:
    with ParsePool(1, file_timeout=0.2) as pool:
        slow = pool.submit("slow.yaml", big_file(200_000))
        fine = pool.submit("fine.yaml", DOC % 7)
        parsed, prepared = pool.result(slow)
        assert (parsed.documents, parsed.complete, prepared) == ([], False, None)
        (problem,) = parsed.problems
        assert problem.file == "slow.yaml"
        assert problem.message == "parsing took longer than 0 s and was stopped; not read"
        assert pool.result(fine)[0].documents[0].data["metadata"]["name"] == "c7"


def test_workers_that_cannot_be_started_leave_the_parse_to_this_process(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")
    with ParsePool(2, worker_command=lambda: [missing]) as pool:
        job = pool.submit("a.yaml", DOC % 3)
        parsed, _ = pool.result(job)
        assert parsed == parse_documents(DOC % 3, "a.yaml")


def test_a_worker_program_that_cannot_start_leaves_the_parse_to_this_process() -> None:
    # A broken installation: the program exits before it says it is ready (an import failed).
    broken = [sys.executable, "-I", "-c", "import no_such_module_here"]
    with ParsePool(2, worker_command=lambda: broken) as pool:
        jobs = [pool.submit(f"f{i}.yaml", DOC % i) for i in range(5)]
        for i, job in enumerate(jobs):
            parsed, _ = pool.result(job)
            assert parsed == parse_documents(DOC % i, f"f{i}.yaml")
        assert pool.crashes == 0  # not counted as files crashing workers


READY_THEN = f"import sys; sys.stdout.buffer.write({READY!r}); sys.stdout.flush(); "


def test_workers_that_keep_dying_are_not_replaced_forever_and_files_are_reported() -> None:
    # Workers that start, then die on every batch: each file is tried alone, then reported.
    dying = [sys.executable, "-c", READY_THEN + "sys.stdin.buffer.read(8); sys.exit(3)"]
    with ParsePool(2, worker_command=lambda: dying) as pool:
        job = pool.submit("a.yaml", DOC % 3)
        parsed, _ = pool.result(job)
        (problem,) = parsed.problems
        assert problem.file == "a.yaml"
        assert problem.message.startswith(
            (
                "the parse worker stopped while reading this file (exit status 3); not read",
                "not parsed: YAML parse workers stopped",  # once replacements ran out
            )
        )
        assert not parsed.complete  # the file keeps its last good entities
        assert pool.crashes <= 4 * 2 + 8 + 2


def test_closing_the_pool_does_not_wait_for_a_worker_stuck_on_a_batch() -> None:
    # The walk stops (an error, an interrupt) while a worker is busy: close() must not hang.
    stuck = [sys.executable, "-c", READY_THEN + "import time; time.sleep(60)"]
    pool = ParsePool(1, worker_command=lambda: stuck)
    for i in range(4):
        pool.submit(f"f{i}.yaml", b"#" * 900_000)  # more than a pipe holds: the feed blocks
    time.sleep(0.5)
    closing = threading.Thread(target=pool.close, daemon=True)
    closing.start()
    closing.join(30)  # a hang guard, not a timing: close() must return at all
    assert not closing.is_alive()
    assert all(w.proc.poll() is not None for w in pool._workers)


def test_a_worker_of_another_protocol_version_is_not_trusted(tmp_path: Path) -> None:
    # A bot upgraded in place while running starts the newer worker program from disk.
    other = [sys.executable, "-c", "import sys, time; sys.stdout.buffer.write(b'cbready2'); "
             "sys.stdout.flush(); time.sleep(30)"]  # fmt: skip
    with ParsePool(1, worker_command=lambda: other) as pool:
        job = pool.submit("a.yaml", DOC % 1)
        assert pool.result(job)[0] == parse_documents(DOC % 1, "a.yaml")
