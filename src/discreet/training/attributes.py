"""Train the project's own face-attribute and eye-state models and export them to ONNX.

    python -m discreet.training.attributes --data ../shared/data --out src/discreet/models/artifacts/

Two small CNNs:

- ``face-attributes``: one 64x64 face crop in, five logits (smile, mouth_open, eyeglasses, blurry,
  mask) and three head-pose angles (yaw, pitch, roll, in units of 30 degrees) out. Each pack labels
  only some heads (GENKI: smile and pose; CelebA: smile, mouth_open, eyeglasses, blurry; masks and
  scenes: mask), so each head's loss is taken over the samples that label it.
- ``eye-state``: one 32x32 eye crop in, one logit (eye open) out, trained on the eyes pack.

The held-out split (``discreet.evaluation.attribute_packs.is_heldout``) never reaches training;
the figures printed at the end are on it. ``--packs`` trains on some packs only, which gives the
cross-source figures (scored on packs the model never saw). Needs the ``train`` extra (torch, onnx).
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from discreet.analyzers.faces import FaceDetector
from discreet.training.crops import EYE_PACKS, FACE_PACKS, LABELS, build_cache, load_cache

#: the face model's outputs, in order (``discreet.analyzers.attributes`` reads them by this order)
FACE_BINARY_HEADS = ("smile", "mouth_open", "eyeglasses", "blurry", "mask")
POSE_HEADS = ("yaw", "pitch", "roll")
POSE_UNIT_DEGREES = 30.0


def _block(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class FaceAttributeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # Halving the 64 px crop in the first two layers keeps it small enough to train on 2 shared
        # CPU cores; the extra layers work at 8 px and below, where they cost little.
        widths = (16, 32, 48, 64, 96)
        layers = [_block(3, widths[0], 2), _block(widths[0], widths[1], 2)]
        for inputs, outputs in itertools.pairwise(widths[1:]):
            layers += [_block(inputs, outputs, 2), _block(outputs, outputs, 1)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.binary = nn.Linear(widths[-1], len(FACE_BINARY_HEADS))
        self.pose = nn.Linear(widths[-1], len(POSE_HEADS))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.binary(features), self.pose(features)


class EyeStateNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _block(3, 16, 1),
            _block(16, 32, 2),
            _block(32, 48, 2),
            _block(48, 48, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(48, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def to_input(crops: np.ndarray) -> np.ndarray:
    """uint8 NHWC RGB -> float32 NCHW in [-1, 1]: the models' input (the analyzer does the same)."""
    return (crops.astype(np.float32).transpose(0, 3, 1, 2) / 127.5) - 1.0


def augment(
    x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, low_resolution_share: float = 0.15
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flips (pose mirrored), scale and shift, light, grey, blur and low resolution.

    Blurring or shrinking a sharp face makes it blurry, so those samples lose their ``blurry`` label.
    """
    n = x.shape[0]
    labels = labels.clone()

    def coin(p: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) < p

    flip = coin(0.5)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    for name in ("yaw", "roll"):
        column = LABELS.index(name)
        labels[flip, column] = -labels[flip, column]

    # One zoom for the whole batch and one shift per sample: far cheaper than a per-sample warp.
    side = x.shape[-1]
    zoomed = round(side * (0.9 + 0.25 * float(torch.rand(1, generator=generator))))
    margin = max(zoomed - side, 0) + side // 16
    x = F.interpolate(x, size=zoomed, mode="bilinear", antialias=zoomed < side)
    x = F.pad(x, [(margin + side - zoomed) // 2 if zoomed < side else margin] * 4, mode="replicate")
    offsets = torch.randint(0, x.shape[-1] - side + 1, (n, 2), generator=generator)
    x = torch.stack([x[i, :, oy : oy + side, ox : ox + side] for i, (oy, ox) in enumerate(offsets.tolist())])

    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.6
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.6
    x = x * contrast + brightness
    grey = coin(0.2)
    x = torch.where(grey[:, None, None, None], x.mean(1, keepdim=True).expand_as(x), x)

    blur = coin(0.15)
    low_resolution = coin(low_resolution_share) & ~blur
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    shrunk = int(torch.randint(side // 4, side // 2 + 1, (1,), generator=generator))
    small = F.interpolate(F.interpolate(x, size=shrunk, mode="area"), size=side, mode="bilinear")
    x = torch.where(blur[:, None, None, None], blurred, x)
    x = torch.where(low_resolution[:, None, None, None], small, x)
    labels[blur | low_resolution, LABELS.index("blurry")] = math.nan
    return x.clamp(-1.5, 1.5), labels


def face_loss(binary: torch.Tensor, pose: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    total = binary.new_zeros(())
    for i, name in enumerate(FACE_BINARY_HEADS):
        target = labels[:, LABELS.index(name)]
        known = ~torch.isnan(target)
        if known.any():
            total = total + F.binary_cross_entropy_with_logits(binary[known, i], target[known])
    pose_target = labels[:, [LABELS.index(n) for n in POSE_HEADS]] / POSE_UNIT_DEGREES
    known = ~torch.isnan(pose_target[:, 0])
    if known.any():
        total = total + 2.0 * F.smooth_l1_loss(pose[known], pose_target[known], beta=0.1)
    return total


def _batches(count: int, size: int, generator: torch.Generator):
    order = torch.randperm(count, generator=generator)
    for start in range(0, count, size):
        yield order[start : start + size]


def fit(
    model: nn.Module,
    x: np.ndarray,
    labels: np.ndarray,
    loss_of,
    epochs: int,
    batch: int,
    seed: int,
    low_resolution_share: float = 0.15,
) -> None:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    inputs, targets = torch.from_numpy(to_input(x)), torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(x) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    for epoch in range(epochs):
        model.train()
        started, running = time.time(), 0.0
        for index in _batches(len(x), batch, generator):
            images, batch_labels = augment(inputs[index], targets[index], generator, low_resolution_share)
            loss = loss_of(model(images), batch_labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            running += float(loss.detach()) * len(index)
        print(
            f"  epoch {epoch + 1}/{epochs}: loss {running / len(x):.4f} ({time.time() - started:.0f} s)",
            flush=True,
        )


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, batch: int = 512) -> list[np.ndarray]:
    model.eval()
    outputs = [model(torch.from_numpy(to_input(crops[i : i + batch]))) for i in range(0, len(crops), batch)]
    if isinstance(outputs[0], tuple):
        return [torch.cat(parts).numpy() for parts in zip(*outputs)]
    return [torch.cat(outputs).numpy()]


def report(name: str, caches: dict[str, dict], model: nn.Module, heads: tuple[str, ...]) -> None:
    """Held-out accuracy of each head on each pack that labels it, and pose MAE in degrees."""
    for pack, cache in caches.items():
        held = cache["heldout"]
        outputs = predict(model, cache["crops"][held])
        labels = cache["labels"][held]
        for i, head in enumerate(heads):
            target = labels[:, LABELS.index(head)]
            known = ~np.isnan(target)
            if known.any():
                accuracy = float(np.mean((outputs[0][known, i] > 0) == (target[known] > 0.5)))
                print(f"{name} {pack} held-out {head}: accuracy {accuracy:.4f} (n={int(known.sum())})")
        if len(outputs) > 1:
            for i, angle in enumerate(POSE_HEADS):
                target = labels[:, LABELS.index(angle)]
                known = ~np.isnan(target)
                if known.any():
                    error = np.abs(outputs[1][known, i] * POSE_UNIT_DEGREES - target[known])
                    print(
                        f"{name} {pack} held-out {angle}: MAE {float(error.mean()):.2f} deg (n={int(known.sum())})"
                    )


def export(model: nn.Module, side: int, path: Path, outputs: list[str]) -> None:
    model.eval()
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, side, side),),
        str(path),
        dynamo=False,
        input_names=["crops"],
        output_names=outputs,
        dynamic_axes={"crops": {0: "n"}, **{o: {0: "n"} for o in outputs}},
        opset_version=17,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def _training_part(caches: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    crops = np.concatenate([c["crops"][~c["heldout"]] for c in caches.values()])
    labels = np.concatenate([c["labels"][~c["heldout"]] for c in caches.values()])
    return crops, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True, help="folder the ONNX files are written to")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "discreet-training")
    parser.add_argument(
        "--packs", default=",".join(FACE_PACKS), help="face packs trained on (all are scored)"
    )
    parser.add_argument("--epochs", type=int, default=6)  # the shipped model; more would help
    parser.add_argument("--eye-epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="face,eye", help="which models to train: face, eye or both")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    detector = FaceDetector("default", threads=args.threads)
    if "face" in args.models:
        caches = {pack: load_cache(build_cache(args.data, args.cache, pack, detector)) for pack in FACE_PACKS}
        trained_on = [p.strip() for p in args.packs.split(",") if p.strip()]
        crops, labels = _training_part({p: caches[p] for p in trained_on})
        print(f"face-attributes: {len(crops)} training crops from {', '.join(trained_on)}")
        face_model = FaceAttributeNet()
        fit(face_model, crops, labels, lambda out, y: face_loss(*out, y), args.epochs, 128, args.seed)
        report("face-attributes", caches, face_model, FACE_BINARY_HEADS)
        export(face_model, crops.shape[1], args.out / "face-attributes.onnx", ["logits", "pose"])
    if "eye" in args.models:
        _train_eyes(args, detector)


def _train_eyes(args: argparse.Namespace, detector: FaceDetector) -> None:
    eyes = {pack: load_cache(build_cache(args.data, args.cache, pack, detector)) for pack in EYE_PACKS}
    crops, labels = _training_part(eyes)
    print(f"eye-state: {len(crops)} training crops")
    eye_model = EyeStateNet()
    column = LABELS.index("eyes_open")

    def eye_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits[:, 0], y[:, column])

    # The eyes pack is sharp close-ups; an eye cut from a face in a photo is often 10-20 px wide.
    fit(eye_model, crops, labels, eye_loss, args.eye_epochs, 64, args.seed, low_resolution_share=0.6)
    report("eye-state", eyes, eye_model, ("eyes_open",))
    export(eye_model, crops.shape[1], args.out / "eye-state.onnx", ["logits"])


if __name__ == "__main__":
    main()
