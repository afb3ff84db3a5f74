"""A YAML parse worker: ``python -I _parse_worker.py PACKAGE_ROOT``, fed by ``ParsePool``.

Once its imports work it writes ``READY``; then it reads batches from stdin and writes results
to stdout, each framed as an 8-byte big-endian length and a pickle: a batch is
``[(job, file, data, prepare), ...]``, a result ``[(job, Parsed, Prepared | None), ...]`` in
the same order. With ``prepare``, the file's entity documents come back as candidates
(validated, relations derived) and only its Location documents as documents. It runs exactly
the code the sync runs in its own process (``parse_documents``, ``prepare_documents``), so a
file means the same whichever process reads it. It runs isolated (``-I``) with an environment
holding no secrets, and exits at the end of its input.
"""

from __future__ import annotations

import pickle
import sys
from typing import IO, Any

# The first 8 bytes a worker writes, once its imports work. The digit is the protocol's
# version: a bot upgraded in place while running may start a newer worker program, which it
# must not trust to speak the same frames (it parses in its own process instead).
READY = b"cbready1"


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    from bot.catalog.candidates import is_location, prepare_documents
    from bot.catalog.problems import Problem
    from bot.catalog.yamlload import Parsed, parse_documents

    stdout.write(READY)  # everything imported: the pool may count on this worker
    stdout.flush()
    while True:
        header = _read_exact(stdin, 8)
        if header is None:
            return
        body = _read_exact(stdin, int.from_bytes(header, "big"))
        if body is None:
            return
        out: list[tuple[int, Any, Any]] = []
        for job, file, data, prepare in pickle.loads(body):
            prepared = None
            try:
                parsed = parse_documents(data, file)
                if prepare:
                    docs = parsed.documents
                    entities = [d for d in docs if not is_location(d)]
                    prepared = prepare_documents(entities, file, parsed.complete)
                    parsed = Parsed(
                        [d for d in docs if is_location(d)], parsed.problems, parsed.complete
                    )
            except Exception as exc:  # a bug costs this file, not the batch
                message = f"reading the file failed: {type(exc).__name__}: {exc}"
                parsed, prepared = Parsed([], [Problem("error", message, file)], False), None
            out.append((job, parsed, prepared))
        payload = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(len(payload).to_bytes(8, "big"))
        stdout.write(payload)
        stdout.flush()


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    serve(sys.stdin.buffer, sys.stdout.buffer)
