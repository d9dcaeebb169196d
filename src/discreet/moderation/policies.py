"""Moderation policies: per label, the score at which it goes to review and to block.

The labels a scene can raise are declared by its analyzer (``SceneAnalyzer.moderation_rules``,
which also gives the defaults); term-list and picture-list matches carry their own action, so a
policy does not list them. A tenant's stored policies are versioned by the service; the result
names the policy and version that decided.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from discreet.analyzers import SCENES
from discreet.schema import Strict


class LabelRule(Strict):
    """Scores in [0, 1]; ``None``: the label never takes the image to that suggestion."""

    review: float | None = Field(None, ge=0, le=1, description="at this score or more: review")
    block: float | None = Field(None, ge=0, le=1, description="at this score or more: block")


def known_labels() -> dict[str, LabelRule]:
    """Every label a scene raises, with its analyzer's default rule."""
    return {label: LabelRule(**rule) for analyzer in SCENES.values() for label, rule in analyzer.moderation_rules.items()}


class ModerationPolicy(Strict):
    name: str = Field("default", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(1, ge=1)
    labels: dict[str, LabelRule] = Field(
        default_factory=known_labels,
        description="per label, its review and block scores; a label left out keeps its default rule",
    )

    @model_validator(mode="after")
    def _labels_exist(self) -> ModerationPolicy:
        unknown = set(self.labels) - set(known_labels())
        if unknown:
            raise ValueError(f"unknown label(s): {', '.join(sorted(unknown))}; known: {', '.join(known_labels())}")
        return self

    def rule(self, label: str) -> LabelRule:
        return self.labels.get(label) or known_labels().get(label) or LabelRule()


DEFAULT_POLICY = ModerationPolicy()
