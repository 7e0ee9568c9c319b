"""Races a busy plant produces, run with real concurrency: threads sending HTTP requests at the same
moment to a real uvicorn serving the app, on SQLite and on PostgreSQL.

Each test releases all its requests through one barrier so they overlap in the server, then checks the
answers and that nothing recorded was lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from db_helpers import png_bytes
from sqlalchemy import select

from database.orm import Annotation

MT_CLASSES = "background,blowhole,break,crack,fray,uneven"


def _together(count: int, send) -> list[httpx.Response]:
    """Run `send(client)` in `count` threads, released at once; one HTTP connection per thread."""
    barrier = threading.Barrier(count)

    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait(timeout=60)
            return send(client)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_imports_of_one_annotation_keep_the_winners_files(
    live_server, users, home: Path, factory
) -> None:
    # An earlier annotation shares the mask: no loser may delete it either.
    mask = np.zeros((48, 64), np.uint8)
    mask[5:9, 5:20] = 3
    earlier_image = png_bytes(np.full((48, 64), 90, np.uint8))
    image = png_bytes(np.random.default_rng(3).integers(0, 255, (48, 64), dtype=np.uint8))
    headers = users["eng"].headers

    def send(client: httpx.Client, image_bytes: bytes = image) -> httpx.Response:
        return client.post(
            f"{live_server}/api/v1/annotations",
            files={
                "image": ("image.png", image_bytes, "image/png"),
                "mask": ("mask.png", png_bytes(mask), "image/png"),
            },
            data={"part_family": "MT320", "class_names": MT_CLASSES},
            headers=headers,
        )

    with httpx.Client(timeout=60) as client:
        assert send(client, earlier_image).status_code == 201
    answers = _together(10, send)

    assert Counter(r.status_code for r in answers) == {201: 1, 409: 9}, [r.text for r in answers]
    with factory() as session:
        rows = list(session.scalars(select(Annotation)))
    assert len(rows) == 2
    for row in rows:
        assert (home / row.image_path).is_file(), row.image_path
        assert (home / row.mask_path).is_file(), row.mask_path
