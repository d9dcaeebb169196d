"""The training code of the attribute models (``discreet.training``), checked on a real face crop
and on drawn crops: the backbone is the detector's, augmentation moves landmarks and pose with the
pixels, the loss reads only the labels a pack has, and the ONNX export answers as PyTorch does.
Nothing here trains a model (training is a command, not a test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import onnx
import onnxruntime as ort
import torch.nn.functional as F

from discreet.analyzers.attribute_crops import FACE_SIZE, face_crop, landmarks_in_crop
from discreet.analyzers.attributes import to_input
from discreet.analyzers.faces import FaceDetector
from discreet.analyzers.retinaface import MEAN_BGR
from discreet.evaluation.attribute_packs import (
    find_face_in_crop,
    is_heldout,
    read_checked_eyes,
    read_labelled,
    read_unclear_eyes,
)
from discreet.evaluation.eye_bounds import PORTRAITS
from discreet.imaging import decode
from discreet.training.attributes import (
    FACE_BINARY_HEADS,
    Augmentation,
    Averaged,
    FaceAttributeNet,
    augment,
    export,
    face_loss,
    mirror_landmarks,
    positive_weights,
)
from discreet.training.backbone import DetectorBackbone
from discreet.training.crops import LABELS
from discreet.training.eyes import hard_examples

#: the detector's ONNX node that ends the MobileNet stages the backbone copies
_LAST_STAGE_OUTPUT = "/fx/stage3/stage3.1/stage3.1.1/stage3.1.1.2/LeakyRelu_output_0"


@pytest.fixture(scope="module")
def face(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """One real CelebA face crop (uint8, 128 x 128 x 3) and its landmarks as crop fractions."""
    item = read_labelled(data_dir / "celeba")[0]
    pixels = decode(item.path).pixels
    found = find_face_in_crop(FaceDetector("default", threads=1), pixels)
    assert found is not None
    return face_crop(pixels, found.box), landmarks_in_crop(found.box, found.landmarks)


def _labels(n: int, **known: float) -> torch.Tensor:
    labels = torch.full((n, len(LABELS)), math.nan)
    for name, value in known.items():
        labels[:, LABELS.index(name)] = value
    return labels


def test_backbone_gives_the_detectors_own_features(face):
    from retinaface.weights import WEIGHTS

    crop, _ = face
    model = onnx.load_from_string(WEIGHTS)
    stage_output = onnx.helper.make_tensor_value_info(_LAST_STAGE_OUTPUT, onnx.TensorProto.FLOAT, None)
    model.graph.output.append(stage_output)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    blob = (crop[:, :, ::-1].astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
    (expected,) = session.run([_LAST_STAGE_OUTPUT], {"input": blob})

    with torch.no_grad():
        features = DetectorBackbone().eval()(torch.from_numpy(to_input(crop[None]))).numpy()
    assert features.shape == expected.shape == (1, 256, FACE_SIZE // 32, FACE_SIZE // 32)
    assert np.abs(features - expected).max() <= 1e-4 * np.abs(expected).max()


def test_augmentation_moves_landmarks_with_the_pixels_and_roll_with_the_turn():
    # White dots drawn at five face-like points; after mirroring, zooming, shifting and turning,
    # each landmark must still sit on a dot, and roll must equal the new tilt of the eye line.
    n, side = 32, FACE_SIZE
    points = torch.tensor([[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.4, 0.7], [0.6, 0.7]])
    ys, xs = torch.meshgrid(torch.arange(side) + 0.5, torch.arange(side) + 0.5, indexing="ij")
    distance = torch.hypot(xs - points[:, 0, None, None] * side, ys - points[:, 1, None, None] * side)
    image = torch.where((distance <= 4).any(0), 1.0, -1.0).expand(n, 3, side, side).clone()
    labels = _labels(n, yaw=10.0, roll=0.0, pitch=0.0)
    settings = Augmentation(blur_share=0.0, low_resolution_share=0.0)

    generator = torch.Generator().manual_seed(3)
    x, landmarks, out = augment(image, points.expand(n, 5, 2), labels, generator, settings)

    pixel = (landmarks * side).long().clamp(0, side - 1)
    on_dot = x[torch.arange(n)[:, None], 0, pixel[..., 1], pixel[..., 0]]
    assert bool((on_dot > 0).all())
    flipped = out[:, LABELS.index("yaw")] < 0
    assert 0 < int(flipped.sum()) < n  # both kinds were drawn
    eyes = landmarks[:, 1] - landmarks[:, 0]
    tilt = torch.rad2deg(torch.atan2(eyes[:, 1], eyes[:, 0]))
    roll = out[:, LABELS.index("roll")]
    assert float(roll.abs().max()) > 5  # turned for real
    assert torch.allclose(roll, tilt, atol=0.5)


def test_the_loss_reads_only_the_labels_a_sample_has():
    binary, pose = torch.randn(4, len(FACE_BINARY_HEADS)), torch.randn(4, 3)
    labels = _labels(4)
    labels[:2, LABELS.index("smile")] = torch.tensor([1.0, 0.0])
    weights = torch.ones(len(FACE_BINARY_HEADS))
    expected = F.binary_cross_entropy_with_logits(binary[:2, 0], labels[:2, LABELS.index("smile")])
    assert torch.allclose(face_loss(binary, pose, labels, weights), expected)


def test_rare_labels_weigh_the_square_root_of_their_rarity():
    labels = _labels(5, smile=0.0).numpy()
    labels[0, LABELS.index("smile")] = 1.0
    weights = positive_weights(labels)
    assert weights[FACE_BINARY_HEADS.index("smile")] == pytest.approx(2.0)  # sqrt(4 negatives / 1)


def test_the_exported_onnx_answers_as_pytorch_does_and_mirrors_agree(face, tmp_path):
    crop, points = face
    torch.manual_seed(0)
    shipped = Averaged([FaceAttributeNet(), FaceAttributeNet()]).eval()
    crops, landmarks = to_input(crop[None]), points[None].astype(np.float32)
    path = tmp_path / "face-attributes.onnx"
    export(shipped, FACE_SIZE, path, ["logits", "pose"], True)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, pose = session.run(None, {"crops": crops, "landmarks": landmarks})
    with torch.no_grad():
        expected = shipped(torch.from_numpy(crops), torch.from_numpy(landmarks))
    assert np.allclose(logits, expected[0].numpy(), atol=1e-4)
    assert np.allclose(pose, expected[1].numpy(), atol=1e-4)

    mirrored = mirror_landmarks(torch.from_numpy(landmarks)).numpy()
    mirror_logits, mirror_pose = session.run(None, {"crops": crops[..., ::-1].copy(), "landmarks": mirrored})
    assert np.allclose(mirror_logits, logits, atol=1e-4)
    assert np.allclose(mirror_pose, pose * [-1, 1, -1], atol=1e-4)  # yaw and roll change sign


def test_the_hard_eye_examples_are_design_faces_never_measured_on(data_dir):
    # trained on, so none may be held out or among the portraits eye_bounds measures the bounds on
    examples = hard_examples(data_dir)
    assert len(examples) == len({i.key for i in examples}) > 300
    assert not any(is_heldout(i.key) for i in examples)
    checked = {i.path for i in read_checked_eyes(data_dir) + read_unclear_eyes(data_dir)}
    celeba = read_labelled(data_dir / "celeba")
    design = [i for i in celeba if i.path not in checked and not is_heldout(i.key)]
    assert not {i.path for i in design[:PORTRAITS]} & {i.path for i in examples}
    assert all(i.path.is_file() for i in examples)


def test_plate_training_asks_for_a_file_or_the_out_of_fold_figures(data_dir, monkeypatch, capsys):
    from discreet.training import plates

    monkeypatch.setattr("sys.argv", ["plates", "--data", str(data_dir / "plates")])
    with pytest.raises(SystemExit) as exit_info:
        plates.main()
    assert exit_info.value.code == 2 and "--out or --out-of-fold" in capsys.readouterr().err


def test_the_labelled_plate_strays_are_design_photos_trained_on_as_their_label_says(data_dir):
    from discreet.evaluation.plates import read_split
    from discreet.training.plates import (
        NOT_PLATE, PLATE, STRAY_KINDS, STRAY_LABELS, _training_boxes, read_stray_labels,
    )

    labels = read_stray_labels(STRAY_LABELS)
    design = {i.path.name: i for i in read_split(data_dir / "plates", "design")}
    assert labels and set(labels) <= set(design)  # never a held-out photo
    assert all(set(kinds) == set(STRAY_KINDS) for kinds in labels.values())
    name = next(n for n, kinds in labels.items() if len(kinds["not_plate"]) and len(kinds["plate_part"]))
    boxes, kinds = _training_boxes(design[name], labels)
    annotated = len(design[name].boxes)
    assert (kinds[:annotated] == PLATE).all()
    assert (kinds == NOT_PLATE).sum() == len(labels[name]["not_plate"])
    # boxes on an annotated plate are left to its own targets
    assert len(boxes) == annotated + sum(len(labels[name][k]) for k in ("plate", "not_plate", "unclear"))


def test_plate_strays_are_split_by_the_label_of_the_box_they_overlap():
    from pathlib import Path

    from discreet.evaluation.packs import AnnotatedImage
    from discreet.training.plates import _strays_by_label

    scored = [AnnotatedImage(Path("br-a.jpg"), []), AnnotatedImage(Path("us-b.jpg"), []),
              AnnotatedImage(Path("web-c.jpg"), [])]
    labels = {"br-a.jpg": {"plate": np.array([[0, 0, 10, 10]], np.float32),
                           "not_plate": np.array([[50, 50, 60, 60]], np.float32)}}
    strays = [{"file": "br-a.jpg", "x1": 0, "y1": 0, "x2": 10, "y2": 9},  # on the labelled plate
              {"file": "br-a.jpg", "x1": 52, "y1": 50, "x2": 60, "y2": 60},  # on the not-plate
              {"file": "us-b.jpg", "x1": 0, "y1": 0, "x2": 10, "y2": 10},  # another photo: nobody looked
              {"file": "web-c.jpg", "x1": 0, "y1": 0, "x2": 10, "y2": 10}]  # web photos are not counted
    assert _strays_by_label(scored, strays, labels) == {
        "plate": 0.5, "not_plate": 0.5, "unclear": 0.0, "plate_part": 0.0, "unlabelled": 0.5}


def test_a_plate_seed_ensemble_file_answers_the_mean_of_its_networks_on_a_real_photo(data_dir):
    import cv2

    from discreet.analyzers.attributes import artifact
    from discreet.analyzers.plates import PlateDetector
    from discreet.evaluation.plates import read_split
    from discreet.training.plates import average_networks

    members = [onnx.load_from_string(artifact(name)) for name in ("plate-detector.onnx", "plate-cover.onnx")]
    merged = average_networks(members)
    assert [o.name for o in merged.graph.output] == [o.name for o in members[0].graph.output]
    photo = next(i for i in read_split(data_dir / "plates", "design") if i.path.name.startswith("br-"))
    pixels = decode(photo.path).pixels
    blob = (cv2.resize(pixels, (640, 480))[:, :, ::-1] - MEAN_BGR).transpose(2, 0, 1)[None].astype(np.float32)

    def outputs(model):
        return ort.InferenceSession(model.SerializeToString()).run(None, {"image": blob})

    each = [outputs(member) for member in members]
    for mean, first, second in zip(outputs(merged), *each):
        assert not np.allclose(first, second)  # two different networks, so the mean is not either
        np.testing.assert_allclose(mean, (first + second) / 2, atol=1e-6)
    # the decoder reads the merged file as it reads one network
    detector = PlateDetector("anonymize", weights=merged.SerializeToString())
    assert detector.detect(pixels)
    assert average_networks(members[:1]) is members[0]


def test_an_eye_seed_ensemble_reads_each_design_fold_by_the_mean_of_its_own_networks(tmp_path, monkeypatch):
    from discreet.training import eyes

    trained = []

    def fake_train(own, data, epochs, seed, out_of_focus):
        trained.append(seed)
        torch.manual_seed(seed)
        return eyes.EyeStateNet().eval()

    monkeypatch.setattr(eyes, "train", fake_train)
    assert len(eyes.cross_fit([], tmp_path, 1, [0], 2)[0]) == 2
    assert trained == [0, 1]  # one seed: the networks of before, seed + fold
    trained.clear()
    members, _ = eyes.cross_fit([], tmp_path, 1, [0, 1], 2)
    assert trained == [0, 1, 1, 2]  # fold by fold, a fold's seeds together

    path = tmp_path / "eye-state.onnx"
    export(eyes.EyeAverage(members), 32, path, ["logits"], False)
    crops = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    with torch.no_grad():
        each = [member(torch.from_numpy(to_input(crops))).numpy() for member in members]
    folds = eyes.fold_readers(eyes.shipped_readers(path.read_bytes()), 2)
    assert not np.allclose(each[0], each[1])
    assert np.allclose(folds[0](crops), (each[0] + each[1]) / 2, atol=1e-5)
    assert np.allclose(folds[1](crops), (each[2] + each[3]) / 2, atol=1e-5)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (shipped,) = session.run(None, {"crops": to_input(crops)})
    assert np.allclose(shipped, np.mean(each, axis=0), atol=1e-5)
    with pytest.raises(ValueError):
        eyes.fold_readers(eyes.shipped_readers(path.read_bytes()), 3)
