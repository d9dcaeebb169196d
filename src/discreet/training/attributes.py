"""Train the project's own face-attribute model (and define the eye-state network) and export to ONNX.

    python -m discreet.training.attributes --data ../shared/data --out src/discreet/models/artifacts/

Two models:

- ``face-attributes``: one 128x128 face crop and the detector's five landmarks (as fractions of the
  crop) in; five logits (smile, mouth_open, eyeglasses, blurry, mask) and three head-pose angles
  (yaw, pitch, roll, in units of 30 degrees) out. Each network starts from the face detector's own
  MobileNet stages (``backbone.DetectorBackbone``) and is fine-tuned on all packs at once. Each pack
  labels only some heads (GENKI: smile and pose; CelebA: smile, mouth_open, eyeglasses, blurry;
  masks and scenes: mask), so each head's loss is taken over the samples that label it. The
  exported file averages ``--members`` networks, each on the crop and on its mirror (``Averaged``).
- ``eye-state``: one 32x32 eye crop in, two logits (eye open, eye visible) out: ``EyeStateNet``
  here, trained by ``discreet.training.eyes`` on eyes cut from whole faces.

The held-out split (``discreet.evaluation.attribute_packs.is_heldout``) never reaches training;
the figures printed at the end are on it. ``--packs`` trains on some packs only, which gives the
cross-source figures (scored on packs the model never saw). Needs the ``train`` extra (torch, onnx).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from discreet.analyzers.attribute_crops import FACE_SIZE
from discreet.analyzers.attributes import to_input
from discreet.analyzers.faces import FaceDetector
from discreet.evaluation.metrics import balanced_accuracy
from discreet.training.backbone import CHANNELS, STRIDE, DetectorBackbone
from discreet.training.crops import FACE_PACKS, LABELS, build_cache, load_cache

#: the face model's outputs, in order (``discreet.analyzers.attributes`` reads them by this order)
FACE_BINARY_HEADS = ("smile", "mouth_open", "eyeglasses", "blurry", "mask")
POSE_HEADS = ("yaw", "pitch", "roll")
POSE_UNIT_DEGREES = 30.0
#: epochs of each network of the shipped face model, and how many networks it averages
EPOCHS = 30
MEMBERS = 2


def _block(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class FaceAttributeNet(nn.Module):
    """The face detector's MobileNet stages (``backbone.DetectorBackbone``), then a head that keeps
    where things are in the crop (a mouth is low, glasses are high): the last feature map, narrowed
    to 64 channels, is flattened rather than averaged. The detector's five landmarks, as fractions of
    the crop, join the features before the last layers: their geometry carries head pose."""

    def __init__(self, side: int = FACE_SIZE) -> None:
        super().__init__()
        self.backbone = DetectorBackbone()
        self.narrow = nn.Sequential(nn.Conv2d(CHANNELS, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        cells = math.ceil(side / STRIDE) ** 2
        self.trunk = nn.Sequential(
            nn.Linear(64 * cells + 10, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3)
        )
        self.binary = nn.Linear(256, len(FACE_BINARY_HEADS))
        self.pose = nn.Linear(256, len(POSE_HEADS))

    def forward(self, x: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spatial = F.dropout(self.narrow(self.backbone(x)).flatten(1), 0.2, self.training)
        features = self.trunk(torch.cat([spatial, (landmarks.flatten(1) - 0.5) * 2.0], dim=1))
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
            nn.Linear(48, 2),
        )

    def forward(self, x: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        # ``fit`` hands every model the landmarks too; an eye crop has none to use
        return self.net(x)


#: landmark pairs that trade places in a mirror image: (left eye, right eye), (mouth left, mouth right)
_MIRRORED_LANDMARKS = [1, 0, 2, 4, 3]
#: the pose angles whose sign a mirror image changes
MIRROR_NEGATES = ("yaw", "roll")


def mirror_landmarks(landmarks: torch.Tensor) -> torch.Tensor:
    """Landmarks (N x 5 x 2, fractions of the crop) of the mirrored crops."""
    mirrored = landmarks[:, _MIRRORED_LANDMARKS].clone()
    mirrored[..., 0] = 1.0 - mirrored[..., 0]
    return mirrored


class Averaged(nn.Module):
    """The shipped form of the face model: each of several networks, trained alike from different
    seeds, reads the crop and its mirror image, and their logits and angles are averaged (a mirror's
    yaw and roll negated back). A face and its mirror image have the same smile, glasses and mask;
    averaging evens out what one network learnt of one side only, or by chance of its seed."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        signs = [-1.0 if angle in MIRROR_NEGATES else 1.0 for angle in POSE_HEADS]
        self.register_buffer("pose_sign", torch.tensor(signs))

    def forward(self, x: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        binary, pose = [], []
        for member in self.members:
            plain = member(x, landmarks)
            mirrored = member(x.flip(3), mirror_landmarks(landmarks))
            binary += [plain[0], mirrored[0]]
            pose += [plain[1], mirrored[1] * self.pose_sign]
        return torch.stack(binary).mean(0), torch.stack(pose).mean(0)


@dataclass
class Augmentation:
    """How far training crops are varied. Angles in degrees, shifts as fractions of the crop side."""

    zoom: tuple[float, float] = (0.9, 1.15)
    shift: float = 0.06
    rotation: float = 12.0
    blur_share: float = 0.12
    #: box blur radii, in pixels of the crop
    blur_radii: tuple[int, int] = (1, 3)
    low_resolution_share: float = 0.15
    #: a shrunk crop's side, as fractions of the crop's
    shrink: tuple[float, float] = (1 / 8, 1 / 2)


def augment(
    x: torch.Tensor,
    landmarks: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    settings: Augmentation,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mirror, zoom, shift and turn each crop (landmarks and pose follow), vary light and colour,
    blur or shrink some.

    A mirror changes the sign of yaw and roll; turning the crop clockwise by an angle adds it to roll
    (roll > 0 leans clockwise). A blurred or shrunk crop is blurry: where a pack labels blurriness,
    a strong degradation makes it a positive and a mild one drops the label.
    """
    n, side = x.shape[0], x.shape[-1]
    labels, landmarks = labels.clone(), landmarks.clone()

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    flip = uniform(0, 1) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    landmarks = torch.where(flip[:, None, None], mirror_landmarks(landmarks), landmarks)
    for name in MIRROR_NEGATES:
        column = LABELS.index(name)
        labels[flip, column] = -labels[flip, column]

    # affine_grid maps each output pixel to where it is read in the input, in [-1, 1] coordinates
    # (x right, y down); a point of the input therefore lands at inverse(matrix) @ (point - offset).
    zoom = uniform(*settings.zoom)
    turn = torch.deg2rad(uniform(-settings.rotation, settings.rotation))
    offset = torch.stack([uniform(-settings.shift, settings.shift) for _ in range(2)], 1) * 2
    cos, sin = torch.cos(turn) / zoom, torch.sin(turn) / zoom
    matrix = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    grid = F.affine_grid(torch.cat([matrix, offset[:, :, None]], 2), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    points = landmarks * 2 - 1
    points = torch.einsum("nij,nkj->nki", torch.linalg.inv(matrix), points - offset[:, None, :])
    landmarks = (points + 1) / 2
    # Content turns by -turn: counter-clockwise as seen when turn > 0, so roll shrinks by it.
    labels[:, LABELS.index("roll")] -= torch.rad2deg(turn)

    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.6
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 0.6
    x = x * contrast + brightness
    grey = uniform(0, 1) < 0.2
    x = torch.where(grey[:, None, None, None], x.mean(1, keepdim=True).expand_as(x), x)

    chance = uniform(0, 1)
    blur = chance < settings.blur_share
    low_resolution = (chance >= settings.blur_share) & (
        chance < settings.blur_share + settings.low_resolution_share
    )
    radius = int(torch.randint(settings.blur_radii[0], settings.blur_radii[1] + 1, (1,), generator=generator))
    low, high = (round(side * f) for f in settings.shrink)
    shrunk = int(torch.randint(low, high + 1, (1,), generator=generator))
    x = x.clone()
    if blur.any():
        x[blur] = F.avg_pool2d(F.pad(x[blur], [radius] * 4, mode="replicate"), 2 * radius + 1, stride=1)
    if low_resolution.any():
        small = F.interpolate(x[low_resolution], size=shrunk, mode="area")
        x[low_resolution] = F.interpolate(small, size=side, mode="bilinear")
    strong = (blur & (radius >= 2)) | (low_resolution & (shrunk <= side // 4))
    blurry = labels[:, LABELS.index("blurry")]
    labelled = ~torch.isnan(blurry)
    blurry[(blur | low_resolution) & labelled] = math.nan
    blurry[strong & labelled] = 1.0
    return x.clamp(-1.5, 1.5), landmarks, labels


def positive_weights(labels: np.ndarray) -> torch.Tensor:
    """Per yes/no head, sqrt(negatives / positives): rare labels (glasses, blur) count more without
    the threshold moving as far as full balancing would move it."""
    weights = []
    for name in FACE_BINARY_HEADS:
        column = labels[:, LABELS.index(name)]
        column = column[~np.isnan(column)]
        positives = max(float((column > 0.5).sum()), 1.0)
        weights.append(math.sqrt(max(len(column) - positives, 1.0) / positives))
    return torch.tensor(weights)


def face_loss(
    binary: torch.Tensor, pose: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    total = binary.new_zeros(())
    for i, name in enumerate(FACE_BINARY_HEADS):
        target = labels[:, LABELS.index(name)]
        known = ~torch.isnan(target)
        if known.any():
            total = total + F.binary_cross_entropy_with_logits(
                binary[known, i], target[known], pos_weight=weights[i]
            )
    pose_target = labels[:, [LABELS.index(n) for n in POSE_HEADS]] / POSE_UNIT_DEGREES
    known = ~torch.isnan(pose_target[:, 0])
    if known.any():
        total = total + 2.0 * F.smooth_l1_loss(pose[known], pose_target[known], beta=0.1)
    return total


def _batches(count: int, size: int, generator: torch.Generator):
    order = torch.randperm(count, generator=generator)
    for start in range(0, count - size + 1, size):  # a last short batch would upset batch norm
        yield order[start : start + size]


def fit(
    model: nn.Module,
    data: dict[str, np.ndarray],
    loss_of,
    epochs: int,
    batch: int,
    seed: int,
    settings: Augmentation,
    learning_rate: float = 3e-3,
    pretrained_rate: float = 0.3,
) -> None:
    """AdamW with a one-cycle schedule; pretrained weights (a ``backbone``) learn at a fraction of the rate."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    landmarks, targets = torch.from_numpy(data["landmarks"]), torch.from_numpy(data["labels"])
    pretrained = [p for name, p in model.named_parameters() if name.startswith("backbone.")]
    fresh = [p for name, p in model.named_parameters() if not name.startswith("backbone.")]
    groups = [{"params": fresh, "lr": learning_rate}]
    if pretrained:
        groups.append({"params": pretrained, "lr": learning_rate * pretrained_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    steps = epochs * (len(targets) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[g["lr"] for g in groups], total_steps=steps, pct_start=0.15
    )
    for epoch in range(epochs):
        model.train()
        started, running = time.time(), 0.0
        for index in _batches(len(targets), batch, generator):
            # uint8 crops are converted a batch at a time: the whole set as floats would be 2.6 GB
            images = torch.from_numpy(to_input(data["crops"][index.numpy()]))
            images, points, labels = augment(images, landmarks[index], targets[index], generator, settings)
            loss = loss_of(model(images, points), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            running += float(loss.detach()) * len(index)
        print(
            f"  epoch {epoch + 1}/{epochs}: loss {running / len(targets):.4f} ({time.time() - started:.0f} s)",
            flush=True,
        )


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, landmarks: np.ndarray, batch: int = 256) -> list[np.ndarray]:
    model.eval()
    outputs = [
        model(torch.from_numpy(to_input(crops[i : i + batch])), torch.from_numpy(landmarks[i : i + batch]))
        for i in range(0, len(crops), batch)
    ]
    if isinstance(outputs[0], tuple):
        return [torch.cat(parts).numpy() for parts in zip(*outputs)]
    return [torch.cat(outputs).numpy()]


def report(name: str, caches: dict[str, dict], model: nn.Module, heads: tuple[str, ...]) -> None:
    """Held-out accuracy (and balanced accuracy) of each head on each pack that labels it, pose MAE."""
    for pack, cache in caches.items():
        held = cache["heldout"]
        outputs = predict(model, cache["crops"][held], cache["landmarks"][held])
        labels = cache["labels"][held]
        for i, head in enumerate(heads):
            target = labels[:, LABELS.index(head)]
            known = ~np.isnan(target)
            if known.any():
                guess, truth = outputs[0][known, i] > 0, target[known] > 0.5
                print(
                    f"{name} {pack} held-out {head}: accuracy {float(np.mean(guess == truth)):.4f} "
                    f"balanced {balanced_accuracy(truth, guess):.4f} (n={int(known.sum())})"
                )
        if len(outputs) > 1:
            for i, angle in enumerate(POSE_HEADS):
                target = labels[:, LABELS.index(angle)]
                known = ~np.isnan(target)
                if known.any():
                    error = np.abs(outputs[1][known, i] * POSE_UNIT_DEGREES - target[known])
                    print(
                        f"{name} {pack} held-out {angle}: MAE {float(error.mean()):.2f} deg (n={int(known.sum())})"
                    )


def export(model: nn.Module, side: int, path: Path, outputs: list[str], with_landmarks: bool) -> None:
    model.eval()
    inputs = (torch.zeros(1, 3, side, side),) + ((torch.zeros(1, 5, 2),) if with_landmarks else ())
    names = ["crops"] + (["landmarks"] if with_landmarks else [])
    torch.onnx.export(
        model,
        inputs,
        str(path),
        dynamo=False,
        input_names=names,
        output_names=outputs,
        dynamic_axes={name: {0: "n"} for name in names + outputs},
        opset_version=17,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def _training_part(caches: dict[str, dict]) -> dict[str, np.ndarray]:
    return {
        key: np.concatenate([c[key][~c["heldout"]] for c in caches.values()])
        for key in ("crops", "landmarks", "labels")
    }


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
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=MEMBERS, help="networks averaged in the face model")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    detector = FaceDetector("default", threads=args.threads)
    caches = {pack: load_cache(build_cache(args.data, args.cache, pack, detector)) for pack in FACE_PACKS}
    trained_on = [p.strip() for p in args.packs.split(",") if p.strip()]
    data = _training_part({p: caches[p] for p in trained_on})
    print(f"face-attributes: {len(data['crops'])} training crops from {', '.join(trained_on)}")
    weights = positive_weights(data["labels"])
    members = []
    for member in range(args.members):
        print(f"member {member + 1} of {args.members} (seed {args.seed + member})")
        face_model = FaceAttributeNet()
        fit(
            face_model,
            data,
            lambda out, y: face_loss(*out, y, weights),
            args.epochs,
            64,
            args.seed + member,
            Augmentation(),
        )
        members.append(face_model)
    shipped = Averaged(members)
    report("face-attributes", caches, shipped, FACE_BINARY_HEADS)
    export(shipped, FACE_SIZE, args.out / "face-attributes.onnx", ["logits", "pose"], True)


if __name__ == "__main__":
    main()
