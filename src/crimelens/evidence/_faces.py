"""Blur faces (and optionally licence plates) in images and video for public release.

Method
------
Detection uses the Viola–Jones boosted cascade of Haar-like features
(Viola & Jones, CVPR 2001; Lienhart & Maydt, ICIP 2002) as trained and shipped
by OpenCV (``haarcascade_frontalface_default.xml`` and, with
``profiles=True``, ``haarcascade_profileface.xml`` run on the image and its
mirror). The cascades ship inside ``opencv-python-headless`` 4.x
(``cv2.data.haarcascades``); nothing is downloaded. Each detection box is
padded (``pad``, default 20 % per side, since the cascade's box stops at the
brow and chin) and the padded box is pixelated to 8×8 blocks and then
Gaussian-blurred, which, unlike a light blur, leaves no recoverable detail.

In video, a box is *held* for ``hold_frames`` frames after its last detection
(a detector that misses one frame in ten still leaks a face several times a
second otherwise). Every frame gets one log entry (its detections, held boxes
and whether it was sampled); every ``review_every``-th frame, the first and
last frames and every frame where the number of boxes changes are queued for a
person to check.

Failure modes
-------------
Viola–Jones finds upright, near-frontal faces of at least ``min_size_px``
pixels in reasonable light. It misses faces turned more than ~30°, tilted,
partly covered, very small (crowds, distant body-cam footage), in the dark or
motion-blurred, and it fires on face-like texture. It is a *screening* tool:
nothing leaves without the human review queue. The plate cascade OpenCV ships
was trained on Russian plates and finds US plates poorly; it is off by
default. This is not face *recognition*: no identity is computed or stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crimelens.errors import InputError, InvalidParameterError

__all__ = ["FaceRedactor", "FrameLog", "VideoRedaction", "haar_cascade_dir"]

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


def haar_cascade_dir() -> Path:
    """The folder holding OpenCV's bundled Haar cascades."""
    import cv2

    return Path(cv2.data.haarcascades)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FrameLog:
    """What was found and blurred in one frame."""

    frame: int
    detections: tuple[Box, ...]
    kinds: tuple[str, ...]
    redacted_boxes: tuple[Box, ...]
    held_boxes: tuple[Box, ...] = ()
    sampled_for_review: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "detections": [list(b) for b in self.detections],
                "kinds": list(self.kinds), "redacted_boxes": [list(b) for b in self.redacted_boxes],
                "held_boxes": [list(b) for b in self.held_boxes],
                "sampled_for_review": self.sampled_for_review}


@dataclass(frozen=True)
class VideoRedaction:
    """Result of redacting one video: per-frame logs and the output's properties."""

    frames: tuple[FrameLog, ...]
    fps: float
    width: int
    height: int
    codec: str
    review_frames: tuple[int, ...] = field(default_factory=tuple)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def n_detections(self) -> int:
        return sum(len(f.detections) for f in self.frames)


class FaceRedactor:
    """Detect faces with OpenCV's Haar cascades and pixelate+blur them.

    Parameters
    ----------
    scale_factor : float
        Image-pyramid step of the cascade (> 1; smaller finds more, slower).
    min_neighbors : int
        Overlapping raw detections needed to keep one (higher = fewer false alarms).
    min_size_px : int
        Smallest face side searched, in pixels of the (possibly downscaled) frame.
    pad : float
        Fraction of the box's width/height added on every side before blurring.
    profiles : bool
        Also run the profile-face cascade (and on the mirrored image).
    plates : bool
        Also blur licence plates with OpenCV's (Russian-trained) plate cascade.
    max_side_px : int
        Frames larger than this are downscaled for detection (boxes are scaled back).
    hold_frames : int
        Video: keep blurring a box this many frames after it was last detected.
    review_every : int
        Video: queue every n-th frame for human review (plus first, last, changes).

    Examples
    --------
    >>> import numpy as np
    >>> r = FaceRedactor()
    >>> out, log = r.redact_image(np.zeros((64, 64, 3), dtype=np.uint8))
    >>> log.detections
    ()
    """

    tool = "crimelens.redact.faces"

    def __init__(
        self,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size_px: int = 24,
        pad: float = 0.2,
        profiles: bool = False,
        plates: bool = False,
        max_side_px: int = 960,
        hold_frames: int = 3,
        review_every: int = 25,
    ) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_px = min_size_px
        self.pad = pad
        self.profiles = profiles
        self.plates = plates
        self.max_side_px = max_side_px
        self.hold_frames = hold_frames
        self.review_every = review_every
        self._cascades: dict[str, Any] | None = None

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("scale_factor", "min_neighbors", "min_size_px", "pad",
                                              "profiles", "plates", "max_side_px", "hold_frames",
                                              "review_every")}

    @property
    def version(self) -> str:
        import cv2

        from crimelens import __version__

        return f"{__version__}+opencv-{cv2.__version__}-haar"

    def _check(self) -> dict[str, Any]:
        if self._cascades is not None:
            return self._cascades
        if not self.scale_factor > 1.0:
            raise InvalidParameterError(f"FaceRedactor(scale_factor={self.scale_factor}): must be > 1")
        if self.min_neighbors < 0 or self.min_size_px < 1 or self.max_side_px < 32:
            raise InvalidParameterError(
                f"FaceRedactor(min_neighbors={self.min_neighbors}, min_size_px={self.min_size_px}, "
                f"max_side_px={self.max_side_px}): expected >= 0, >= 1 and >= 32")
        if not 0.0 <= self.pad <= 1.0:
            raise InvalidParameterError(f"FaceRedactor(pad={self.pad}): expected 0 <= pad <= 1")
        if self.hold_frames < 0 or self.review_every < 1:
            raise InvalidParameterError(
                f"FaceRedactor(hold_frames={self.hold_frames}, review_every={self.review_every}): "
                "expected hold_frames >= 0 and review_every >= 1")
        import cv2

        folder = haar_cascade_dir()
        names = {"face": "haarcascade_frontalface_default.xml"}
        if self.profiles:
            names["profile"] = "haarcascade_profileface.xml"
        if self.plates:
            names["plate"] = "haarcascade_russian_plate_number.xml"
        cascades: dict[str, Any] = {}
        for kind, name in names.items():
            c = cv2.CascadeClassifier(str(folder / name))
            if c.empty():
                raise InputError(f"OpenCV cascade {name!r}: not found in {folder}; expected "
                                 "opencv-python-headless < 5, which bundles cv2.data.haarcascades")
            cascades[kind] = c
        self._cascades = cascades
        return cascades

    # detection --------------------------------------------------------------------
    def detect(self, image: NDArray[np.uint8]) -> list[tuple[str, Box]]:
        """(kind, box) for every face (and plate) in a BGR, BGRA or grey image."""
        import cv2

        cascades = self._check()
        if image.ndim not in (2, 3) or image.size == 0 or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise InputError(f"image: got an array of shape {image.shape}; expected (h, w), (h, w, 3) or (h, w, 4)")
        grey = (image if image.ndim == 2 else
                cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY))
        h, w = grey.shape
        scale = min(1.0, self.max_side_px / max(h, w))
        small = grey if scale == 1.0 else cv2.resize(grey, (round(w * scale), round(h * scale)),
                                                     interpolation=cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        found: list[tuple[str, Box]] = []
        min_size = (self.min_size_px, self.min_size_px)
        for kind, casc in cascades.items():
            runs = [(small, False)] + ([(cv2.flip(small, 1), True)] if kind == "profile" else [])
            for img, mirrored in runs:
                boxes = casc.detectMultiScale(img, scaleFactor=self.scale_factor,
                                              minNeighbors=self.min_neighbors, minSize=min_size)
                for x, y, bw, bh in (boxes if len(boxes) else []):
                    x0 = img.shape[1] - x - bw if mirrored else x
                    found.append((kind if kind != "profile" else "face",
                                  (round(x0 / scale), round(y / scale), round(bw / scale), round(bh / scale))))
        return found

    def _padded(self, box: Box, shape: tuple[int, ...]) -> Box:
        x, y, w, h = box
        px, py = round(w * self.pad), round(h * self.pad)
        x0, y0 = max(0, x - px), max(0, y - py)
        x1, y1 = min(shape[1], x + w + px), min(shape[0], y + h + py)
        return (x0, y0, x1 - x0, y1 - y0)

    @staticmethod
    def _obscure(image: NDArray[np.uint8], box: Box) -> None:
        import cv2

        x, y, w, h = box
        if w < 2 or h < 2:
            return
        roi = image[y:y + h, x:x + w]
        tiny = cv2.resize(roi, (max(1, w // 8 if w >= 64 else 4), max(1, h // 8 if h >= 64 else 4)),
                          interpolation=cv2.INTER_AREA)
        blocky = cv2.resize(tiny, (w, h), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(w, h) // 4) | 1)
        image[y:y + h, x:x + w] = cv2.GaussianBlur(blocky, (k, k), 0)

    def redact_image(self, image: NDArray[np.uint8], *, frame: int = 0,
                     extra_boxes: tuple[Box, ...] = ()) -> tuple[NDArray[np.uint8], FrameLog]:
        """A redacted copy of ``image`` (the input is not changed) and its log.

        A grey image stays grey; in a BGRA image the colour channels inside each box are obscured and
        the alpha channel is kept as it was (hiding a face by transparency alone would leave it in the
        colour channels, which any viewer that drops alpha shows)."""
        found = self.detect(image)
        out = image.copy()
        redacted = [self._padded(b, image.shape) for _, b in found]
        redacted += list(extra_boxes)
        colour = np.ascontiguousarray(out[:, :, :3]) if out.ndim == 3 and out.shape[2] == 4 else out
        for box in redacted:
            self._obscure(colour, box)
        if colour is not out:
            out[:, :, :3] = colour
        log = FrameLog(frame, tuple(b for _, b in found), tuple(k for k, _ in found), tuple(redacted),
                       held_boxes=tuple(extra_boxes))
        return out, log

    def redact_image_file(self, src: Path, dst: Path) -> FrameLog:
        """Read ``src`` (any format OpenCV reads), write the redacted copy to ``dst``.

        The copy keeps the image's mode: a greyscale image stays greyscale and an 8-bit image with an
        alpha channel keeps it (unchanged), so every pixel outside the face boxes is the same as in
        ``src`` when ``dst`` is a lossless format (PNG, BMP, TIFF). A JPEG ``dst`` is re-encoded, which
        changes pixels everywhere a little, and holds no alpha channel (it is dropped). Images of 16
        bits per channel are read as 8-bit colour, as before. EXIF orientation is applied to images
        without alpha (the copy is stored upright, without EXIF)."""
        import cv2

        raw = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] != 4:
            # grey stays grey (IMREAD_ANYCOLOR), colour is BGR; 8 bits; EXIF orientation applied
            raw = cv2.imread(str(src), cv2.IMREAD_ANYCOLOR)  # (else BGRA: the alpha channel is kept)
        if raw is None:
            raise InputError(f"image {str(src)!r}: OpenCV cannot read it; expected a PNG, JPEG, BMP or TIFF file")
        out, log = self.redact_image(np.asarray(raw, dtype=np.uint8))
        if out.ndim == 3 and out.shape[2] == 4 and dst.suffix.lower() in (".jpg", ".jpeg"):
            out = np.asarray(cv2.cvtColor(out, cv2.COLOR_BGRA2BGR), dtype=np.uint8)  # JPEG holds no alpha
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(dst), out):
            raise InputError(f"image output {str(dst)!r}: OpenCV cannot write this format; use .png or .jpg")
        return FrameLog(log.frame, log.detections, log.kinds, log.redacted_boxes, sampled_for_review=True)

    def redact_video(self, src: Path, dst: Path, *,
                     progress: Callable[[int, int], None] | None = None) -> VideoRedaction:
        """Redact every frame of ``src`` into ``dst`` (``.avi``: MJPG; ``.mp4``: mp4v)."""
        import cv2

        self._check()
        suffix = dst.suffix.lower()
        codec = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}.get(suffix)
        if codec is None:
            raise InputError(f"video output {str(dst)!r}: got suffix {suffix!r}; expected .avi or .mp4")
        cap = cv2.VideoCapture(str(src))
        if not cap.isOpened():
            raise InputError(f"video {str(src)!r}: OpenCV cannot open it; expected an AVI (MJPG) or MP4 file")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        dst.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*codec), fps, (width, height))
        if not writer.isOpened():
            cap.release()
            raise InputError(f"video output {str(dst)!r}: OpenCV cannot write {codec} here")
        logs: list[FrameLog] = []
        recent: list[tuple[int, Box]] = []  # (last frame seen, padded box)
        try:
            i = 0
            while True:
                ok, raw = cap.read()
                if not ok or raw is None:
                    break
                frame: NDArray[np.uint8] = np.asarray(raw, dtype=np.uint8)
                found = self.detect(frame)
                boxes = [self._padded(b, frame.shape) for _, b in found]
                held = tuple(b for seen, b in recent
                             if i - seen <= self.hold_frames and not any(_overlaps(b, nb) for nb in boxes))
                out = frame.copy()
                for box in [*boxes, *held]:
                    self._obscure(out, box)
                writer.write(out)
                recent = [(s, b) for s, b in recent if i - s <= self.hold_frames and b in held]
                recent += [(i, b) for b in boxes]
                logs.append(FrameLog(i, tuple(b for _, b in found), tuple(k for k, _ in found),
                                     tuple(boxes) + held, held_boxes=held))
                i += 1
                if progress is not None:
                    progress(i, total)
        finally:
            cap.release()
            writer.release()
        review = self._review_frames(logs)
        logs = [FrameLog(f.frame, f.detections, f.kinds, f.redacted_boxes, f.held_boxes,
                         f.frame in review) for f in logs]
        return VideoRedaction(tuple(logs), fps, width, height, codec, tuple(sorted(review)))

    def _review_frames(self, logs: list[FrameLog]) -> set[int]:
        if not logs:
            return set()
        chosen = {0, logs[-1].frame}
        chosen |= {f.frame for f in logs if f.frame % self.review_every == 0}
        for prev, cur in itertools.pairwise(logs):
            if len(prev.redacted_boxes) != len(cur.redacted_boxes):
                chosen.add(cur.frame)
        return chosen


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
