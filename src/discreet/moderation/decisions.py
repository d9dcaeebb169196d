"""Decide ``pass`` / ``review`` / ``block`` for each scene of a result and for the whole image.

A scene's labels and their scores come from its analyzer (``SceneAnalyzer.moderation_labels``); the
policy turns each into a suggestion. Term-list matches decide the scene they matched in, and
picture-list matches the whole image, by their list's action. A match in a ``pass`` picture list
decides the image ``pass`` whatever the models say: that is how a customer's correction sticks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from discreet.analyzers import SCENES
from discreet.moderation.policies import DEFAULT_POLICY, ModerationPolicy
from discreet.moderation.terms import TermList, TermMatch, match_terms
from discreet.schema import Strict

if TYPE_CHECKING:
    from discreet.results import ScanResult

Suggestion = Literal["pass", "review", "block"]
SEVERITY: dict[str, int] = {"pass": 0, "review": 1, "block": 2}


class Decision(Strict):
    suggestion: Suggestion
    labels: list[str] = Field(description="the labels that drove the suggestion (for pass: every label raised)")
    score: float = Field(ge=0, le=1, description="the highest score among those labels, 0 when there are none")


class ImageListMatch(Strict):
    list_id: str
    list_name: str
    kind: Suggestion = Field(description="the list's action: a block, review or pass list")
    distance: int = Field(ge=0, le=256, description="PDQ Hamming distance to the closest entry (of 256 bits)")
    entry_id: str


class Moderation(Strict):
    """The image's decision, each asked scene's, and the list matches behind them."""

    suggestion: Suggestion
    labels: list[str]
    score: float = Field(ge=0, le=1)
    policy: str = Field(description="the policy that decided")
    policy_version: int
    scenes: dict[str, Decision]
    terms: list[TermMatch] = Field(default_factory=list)
    image_lists: list[ImageListMatch] = Field(default_factory=list)


def _decision(raised: dict[str, tuple[Suggestion, float]]) -> Decision:
    worst = max((suggestion for suggestion, _ in raised.values()), key=SEVERITY.__getitem__, default="pass")
    driving = {label: score for label, (suggestion, score) in raised.items() if worst == "pass" or suggestion == worst}
    return Decision(suggestion=worst, labels=sorted(driving), score=max(driving.values(), default=0.0))


def decide(
    result: ScanResult,
    policy: ModerationPolicy = DEFAULT_POLICY,
    term_lists: Sequence[TermList] = (),
    image_matches: Sequence[ImageListMatch] = (),
) -> Moderation:
    texts = {
        "text": [line.text for line in result.text or []],
        "codes": [code.payload for code in result.codes or []],
    }
    terms = match_terms({scene: values for scene, values in texts.items() if values}, list(term_lists))
    scenes: dict[str, Decision] = {}
    for scene, analyzer in SCENES.items():
        found = getattr(result, scene)
        if found is None:
            continue
        raised: dict[str, tuple[Suggestion, float]] = {}
        for label, score in analyzer.moderation_labels(found).items():
            rule = policy.rule(label)
            suggestion: Suggestion = (
                "block" if rule.block is not None and score >= rule.block
                else "review" if rule.review is not None and score >= rule.review
                else "pass"
            )
            raised[label] = (suggestion, score)
        for match in terms:
            if match.scene == scene and match.action != "pass":
                raised[f"term:{match.list}"] = _worse(raised.get(f"term:{match.list}"), (match.action, 1.0))
        scenes[scene] = _decision(raised)
    listed = {
        f"image_list:{m.list_name}": (m.kind, round(1 - m.distance / 256, 4))
        for m in sorted(image_matches, key=lambda m: -m.distance)  # the closest entry of a list wins
    }
    passed = {label: value for label, value in listed.items() if value[0] == "pass"}
    if passed:
        image = _decision(passed)
    else:
        image = _decision({
            **{f"{scene}:{label}": (d.suggestion, d.score) for scene, d in scenes.items() for label in d.labels},
            **listed,
        })
    return Moderation(
        suggestion=image.suggestion, labels=image.labels, score=image.score, policy=policy.name,
        policy_version=policy.version, scenes=scenes, terms=terms, image_lists=list(image_matches),
    )


def _worse(a: tuple[Suggestion, float] | None, b: tuple[Suggestion, float]) -> tuple[Suggestion, float]:
    return b if a is None or SEVERITY[b[0]] > SEVERITY[a[0]] else a
