"""Face blurring on a real photograph and on a synthetic video; derivatives link to their original."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from crimelens.errors import InputError, NotFoundError
from crimelens.evidence import FaceRedactor
from crimelens.governance import Actor
from crimelens.services import Context
from crimelens.services import evidence as svc

ACTOR = Actor("custodian")


@pytest.fixture(scope="module")
def astronaut_bgr() -> NDArray[np.uint8]:
    data = pytest.importorskip("skimage.data")
    rgb = data.astronaut()  # ships inside the scikit-image wheel: no download
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _outside_mask(shape: tuple[int, ...], boxes: tuple[tuple[int, int, int, int], ...]) -> NDArray[np.bool_]:
    mask = np.ones(shape[:2], dtype=bool)
    for x, y, w, h in boxes:
        mask[y:y + h, x:x + w] = False
    return mask


def test_astronaut_face_is_blurred_inside_the_box_and_nothing_outside(astronaut_bgr: NDArray[np.uint8]) -> None:
    out, log = FaceRedactor().redact_image(astronaut_bgr)
    assert len(log.detections) == 1
    x, y, w, h = log.detections[0]
    # Eileen Collins' face in the 512x512 sample sits around x 180-270, y 70-160
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160 and 60 < w < 160
    inside_before = astronaut_bgr[y:y + h, x:x + w].astype(int)
    inside_after = out[y:y + h, x:x + w].astype(int)
    changed = np.any(inside_before != inside_after, axis=2).mean()
    assert changed > 0.9
    # blurred, not just shifted: the fine detail (Laplacian energy) is gone
    lap = lambda a: cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(out[y:y + h, x:x + w]) < 0.2 * lap(astronaut_bgr[y:y + h, x:x + w])
    outside = _outside_mask(astronaut_bgr.shape, log.redacted_boxes)
    assert np.array_equal(out[outside], astronaut_bgr[outside])
    assert outside.mean() > 0.9  # the redaction touched under 10% of the picture
    assert not np.shares_memory(out, astronaut_bgr)


def test_blank_and_noise_images_have_no_detections() -> None:
    rng = np.random.default_rng(0)
    r = FaceRedactor()
    for img in (np.zeros((240, 320, 3), np.uint8), rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)):
        out, log = r.redact_image(img)
        assert log.detections == () and np.array_equal(out, img)


def _synthetic_video(path: Path, face: NDArray[np.uint8], n_frames: int = 24) -> None:
    """A grey 320x240 clip with the astronaut's head (face ~75 px) sliding left to right."""
    crop = cv2.resize(face[30:230, 130:330], (160, 160), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 12.0, (320, 240))
    assert writer.isOpened()
    for i in range(n_frames):
        frame = np.full((240, 320, 3), 90, np.uint8)
        x = 5 + i * 6
        frame[40:200, x:x + 160] = crop
        writer.write(frame)
    writer.release()


def test_video_gives_one_log_entry_per_frame_and_queues_a_sample(
        ctx: Context, tmp_path: Path, astronaut_bgr: NDArray[np.uint8]) -> None:
    src = tmp_path / "clip.avi"
    _synthetic_video(src, astronaut_bgr)
    run, log_path = svc.redact_video_file(ctx, src, tmp_path / "clip.redacted.avi", actor=ACTOR,
                                          redactor=FaceRedactor(review_every=10))
    lines = [json.loads(x) for x in log_path.read_text().splitlines()]
    assert [entry["frame"] for entry in lines] == list(range(24))
    assert run.n_units == 24
    with_face = sum(bool(entry["redacted_boxes"]) for entry in lines)
    assert with_face >= 22  # the head is in every frame; hold_frames covers single misses
    cap = cv2.VideoCapture(str(tmp_path / "clip.redacted.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    cap.release()
    queue = svc.review_queue(ctx, run.run_id)
    units = {q["unit"] for q in queue}
    assert {"0", "10", "20", "23"} <= units and len(units) < 24
    assert {e["sampled_for_review"] for e in lines if str(e["frame"]) in units} == {True}
    (entry,) = [e for _, e in ctx.ledger.entries(action="redact.video")]
    assert entry.output_hash == run.output_sha256 and entry.detail["n_units"] == 24


def test_redacted_copy_resolves_to_its_original_hash(ctx: Context, tmp_path: Path,
                                                     astronaut_bgr: NDArray[np.uint8]) -> None:
    src = tmp_path / "scene.png"
    cv2.imwrite(str(src), astronaut_bgr)
    original = svc.add_evidence(ctx, src, case_id="JA300001", actor=ACTOR, source="crime-scene camera")
    with pytest.raises(NotFoundError, match="not an evidence item of case"):
        svc.redact_image_file(ctx, src, tmp_path / "x.png", actor=ACTOR, case_id="OTHER")
    run = svc.redact_image_file(ctx, src, tmp_path / "scene.public.png", actor=ACTOR, case_id="JA300001")
    assert run.source_item_id == original.item_id and run.output_item_id is not None
    report = svc.item_report(ctx, run.output_item_id)
    assert report["original_sha256"] == original.sha256
    assert report["item"]["parent_sha256"] == original.sha256
    assert report["item"]["derivation"] == "redacted"
    assert report["item"]["tool"] == "crimelens.redact.faces" and "opencv" in report["item"]["tool_version"]
    assert [x["item_id"] for x in report["lineage"]] == [run.output_item_id, original.item_id]
    assert svc.item_report(ctx, original.item_id)["derivatives"] == [run.output_item_id]
    assert svc.verify_case(ctx, "JA300001", actor=ACTOR).ok

    # the copy is an item from the start: it says it is under review, and not for release (before: nothing
    # on the item told a rejected or unreviewed copy from a released one)
    red = report["redaction"]
    assert (red["run_id"], red["released"], red["units"]) == (run.run_id, False, {"pending": 1})
    assert red["note"].startswith("NOT RELEASED: under review (1 unit(s) pending)")
    assert svc.item_report(ctx, original.item_id)["redaction"] is None
    svc.decide_review(ctx, run.run_id, "0", status="rejected", actor=Actor("sgt_reviewer"), note="face not covered")
    assert "1 unit(s) rejected" in svc.item_report(ctx, run.output_item_id)["redaction"]["note"]

    # release needs the sampled frame confirmed first
    with pytest.raises(Exception, match="rejected"):
        svc.release_run(ctx, run.run_id, actor=ACTOR)
    svc.decide_review(ctx, run.run_id, "0", status="confirmed", actor=Actor("sgt_two"))
    assert svc.release_run(ctx, run.run_id, actor=ACTOR)["status"] == "released"
    red = svc.item_report(ctx, run.output_item_id)["redaction"]
    assert red["released"] and red["note"] == "released after review" and red["units"] == {"confirmed": 1}


def test_unreadable_inputs_are_refused_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    with pytest.raises(InputError, match="cannot read"):
        FaceRedactor().redact_image_file(bad, tmp_path / "out.png")
    bad_video = tmp_path / "not-a-video.avi"
    bad_video.write_text("hello")
    with pytest.raises(InputError, match="cannot open"):
        FaceRedactor().redact_video(bad_video, tmp_path / "out.avi")
    with pytest.raises(InputError, match=r"expected \.avi or \.mp4"):
        FaceRedactor().redact_video(bad_video, tmp_path / "out.gif")
