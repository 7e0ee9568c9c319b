"""Annotation import: real image/mask pairs accepted; wrong sizes, bad masks and oversized uploads are
refused with a clear error and leave neither rows nor files behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from db_helpers import png_bytes
from sqlalchemy import func, select

from database.orm import Annotation

MT_CLASSES = "background,blowhole,break,crack,fray,uneven"


def stored_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "files").rglob("*") if p.is_file()) if (home / "files").exists() else []


def annotation_count(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Annotation))


def upload(client, headers, image: bytes, mask: bytes, **data):
    form = {"part_family": "MT320", "class_names": MT_CLASSES, **data}
    return client.post(
        "/api/v1/annotations",
        files={"image": ("image.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")},
        data=form,
        headers=headers,
    )


def test_real_dataset_pair_is_imported_with_its_classes(client, users, mt320_dir, home, factory) -> None:
    name = "crack_exp1_num_51071.png"
    if not (mt320_dir / "images" / name).exists():
        name = sorted(p.name for p in (mt320_dir / "images").glob("crack_*.png"))[0]
    image = (mt320_dir / "images" / name).read_bytes()
    mask = (mt320_dir / "masks" / name).read_bytes()
    response = upload(client, users["eng"].headers, image, mask, note="from mt320")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (320, 320)
    assert body["classes_present"] == ["crack"] and body["class_names"][3] == "crack"
    assert (home / body["image_path"]).read_bytes() == image  # stored byte for byte, by hash
    assert len(stored_files(home)) == 2
    duplicate = upload(client, users["eng"].headers, image, mask)
    assert duplicate.status_code == 409 and f"annotation {body['id']}" in duplicate.json()["detail"]
    listed = client.get(
        "/api/v1/annotations", params={"part_family": "MT320"}, headers=users["eng"].headers
    ).json()
    assert [a["id"] for a in listed] == [body["id"]]


def test_bad_pairs_are_422_and_write_nothing(client, users, home, factory) -> None:
    image = png_bytes(np.full((40, 60), 120, np.uint8))
    good_mask = np.zeros((40, 60), np.uint8)
    cases = [
        (
            png_bytes(np.zeros((40, 59), np.uint8)),
            MT_CLASSES,
            "mask",
            "size 59x40 differs from the image's 60x40",
        ),
        (png_bytes(np.zeros((60, 40), np.uint8)), MT_CLASSES, "mask", "differs from the image's 60x40"),
        (png_bytes(np.full((40, 60), 9, np.uint8)), MT_CLASSES, "mask", "values [9] have no class"),
        (png_bytes(np.zeros((40, 60, 3), np.uint8)), MT_CLASSES, "mask", "single-channel"),
        (png_bytes(np.zeros((40, 60), np.uint16)), MT_CLASSES, "mask", "8-bit"),
        (b"\x89PNG\r\n\x1a\n garbage", MT_CLASSES, "mask", "not a readable image"),
        (png_bytes(good_mask), "background", "class_names", "should match pattern"),
        (png_bytes(good_mask), "background,Crack", "class_names", "should match pattern"),
        (png_bytes(good_mask), "background,crack,crack", "class_names", "duplicate names"),
    ]
    for mask, class_names, field, message in cases:
        response = upload(client, users["eng"].headers, image, mask, class_names=class_names)
        assert response.status_code == 422, (message, response.text)
        detail = response.json()["detail"][0]
        assert detail["loc"][-1] == field and message in detail["msg"], detail
    corrupt_image = upload(client, users["eng"].headers, b"JFIF nonsense", png_bytes(good_mask))
    assert corrupt_image.status_code == 422 and corrupt_image.json()["detail"][0]["loc"][-1] == "image"
    empty = upload(client, users["eng"].headers, b"", png_bytes(good_mask))
    assert empty.status_code == 422
    unknown_blade = upload(client, users["eng"].headers, image, png_bytes(good_mask), blade_serial="NOPE")
    assert unknown_blade.status_code == 404
    assert annotation_count(factory) == 0 and stored_files(home) == []


def test_oversized_uploads_are_413_before_anything_is_written(client, users, home, factory, settings) -> None:
    limit = settings.max_upload_bytes
    big = np.random.default_rng(0).integers(0, 255, (800, 800), dtype=np.uint8)  # ~640 kB PNG of noise
    big_png = png_bytes(big)
    mask = png_bytes(np.zeros((800, 800), np.uint8))
    assert len(big_png) + len(mask) < limit  # under the limit the pair is accepted...
    assert upload(client, users["eng"].headers, big_png, mask).status_code == 201
    files_before, count_before = stored_files(home), annotation_count(factory)

    huge = png_bytes(np.random.default_rng(1).integers(0, 255, (1200, 1200), dtype=np.uint8))
    assert len(huge) > limit
    declared = upload(client, users["eng"].headers, huge, png_bytes(np.zeros((1200, 1200), np.uint8)))
    assert declared.status_code == 413 and f"{limit:,} byte limit" in declared.json()["detail"]

    def chunks():  # no Content-Length: counted while streaming
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="part_family"\r\n\r\nMT320\r\n'
        yield boundary + b'Content-Disposition: form-data; name="image"; filename="i.png"\r\n\r\n'
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]
        yield b"\r\n--xyz--\r\n"

    streamed = client.post(
        "/api/v1/annotations",
        content=chunks(),
        headers={**users["eng"].headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert streamed.status_code == 413
    assert stored_files(home) == files_before and annotation_count(factory) == count_before


def test_a_refused_import_leaves_files_only_the_collector_removes(
    client, users, home, factory, store, monkeypatch
) -> None:
    """The request never deletes stored files (a concurrent import may share them); the collector,
    which checks the database, removes what is unreferenced once it is older than the grace period."""
    from sqlalchemy.orm import Session

    from database.services.file_gc import collect_garbage

    kept_image = png_bytes(np.full((32, 32), 7, np.uint8))
    shared_mask = png_bytes(np.zeros((32, 32), np.uint8))
    assert upload(client, users["eng"].headers, kept_image, shared_mask).status_code == 201

    def refuse(self):
        raise RuntimeError("disk full on the database server")

    image = png_bytes(
        cv2.GaussianBlur(np.random.default_rng(3).integers(0, 255, (32, 32), dtype=np.uint8), (3, 3), 0)
    )
    monkeypatch.setattr(Session, "commit", refuse)
    with pytest.raises(RuntimeError, match="disk full"):
        upload(client, users["eng"].headers, image, shared_mask)
    monkeypatch.undo()
    assert annotation_count(factory) == 1 and len(stored_files(home)) == 3

    with factory() as session:
        young = collect_garbage(session, store)  # default grace: a just-written file may yet be committed
        assert young.removed == () and young.kept == 3
        result = collect_garbage(session, store, grace_s=-1.0)
    orphan = store.path_for(hashlib.sha256(image).hexdigest(), ".png")
    assert result.removed == (orphan,) and result.kept == 2
    with factory() as session:
        (row,) = session.scalars(select(Annotation))
    assert sorted(stored_files(home)) == sorted([home / row.image_path, home / row.mask_path])


def test_upload_limit_applies_to_any_body(client, users, settings) -> None:
    response = client.post(
        "/api/v1/blades",
        content=b"{" + b" " * (settings.max_upload_bytes + 1) + b"}",
        headers={**users["eng"].headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit grey PNG of `width` x `height` zeros: tens of kB on disk, width*height pixels decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    blocks = [min(500, height - start) for start in range(0, height, 500)]
    body = b"".join(packer.compress(row * rows) for rows in blocks) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_image_bombs_are_refused_from_the_header_before_decoding(
    client, users, home, factory, settings, monkeypatch
) -> None:
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < settings.max_upload_bytes  # small on disk: only the pixel limit can stop it
    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(1) or real_imdecode(*a))
    small = png_bytes(np.zeros((20, 20), np.uint8))
    for image, mask, field in ((bomb, small, "image"), (small, bomb, "mask")):
        decoded.clear()
        response = upload(client, users["eng"].headers, image, mask)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"][0]
        assert detail["loc"][-1] == field
        assert "20000x20000 = 400,000,000 pixels" in detail["msg"]
        assert f"limit of {settings.max_image_pixels:,} pixels" in detail["msg"]
        assert len(decoded) <= (1 if field == "mask" else 0)  # the bomb itself was never decoded
    assert annotation_count(factory) == 0 and stored_files(home) == []


def test_pixel_limit_is_inclusive_and_unidentifiable_formats_are_refused() -> None:
    from database.errors import InvalidInputError
    from database.storage import decode_upload

    assert decode_upload(png_bomb(100, 100), "image", grey=True, max_pixels=10_000).shape == (100, 100)
    with pytest.raises(InvalidInputError, match=r"100x100 = 10,000 pixels exceed the limit of 9,999"):
        decode_upload(png_bomb(100, 100), "image", grey=True, max_pixels=9_999)
    ok, pfm = cv2.imencode(".pfm", np.zeros((4, 4), np.float32))  # OpenCV reads it; no header check
    assert ok
    with pytest.raises(InvalidInputError, match="not a readable image"):
        decode_upload(pfm.tobytes(), "image", grey=False, max_pixels=10_000)
