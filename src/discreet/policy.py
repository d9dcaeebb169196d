"""The privacy policy, in one place: which face attributes Discreet returns and which it refuses.

Discreet descends from a cloud API that was found offering a face attribute telling whether a
person belongs to a persecuted ethnic minority. Discreet infers nothing about who a person is or
what group they belong to, and nothing that stands in for it. Every entry point (library, CLI,
HTTP API, worker) calls :func:`check_attributes` before any model runs, so every refusal is the
same ``PolicyError`` with the code ``attribute_refused_by_policy``.
"""

from __future__ import annotations

from collections.abc import Iterable

from discreet.errors import PolicyError, ValidationError

POLICY_NAME = "Discreet privacy policy"

#: Attributes a face may carry in a result. Each is about the picture (what is visible), not the person.
SUPPORTED_ATTRIBUTES: dict[str, str] = {
    "smile": "a visible mouth shape (lips curved up), not an emotion",
    "eyes_open": "both eyes visibly open",
    "mouth_open": "lips apart",
    "eyeglasses": "glasses of any kind, sunglasses included",
    "mask": "nose and mouth covered",
    "head_pose": "yaw, pitch and roll of the head in degrees",
    "quality": "sharpness, brightness, face size and a usable flag",
}

#: Names that are neither refused nor offered, with the reason given in the ``ValidationError``.
UNSUPPORTED_ATTRIBUTES: dict[str, str] = {
    # No data pack here labels sunglasses apart (CelebA's Eyeglasses includes them), so no model
    # could be trained or measured on the difference; `eyeglasses` covers both.
    "sunglasses": "sunglasses are not told apart from other glasses; ask for 'eyeglasses', which includes them",
}

_WHY_IDENTITY = "it says who a person is or lets one person be followed across images"
_WHY_GROUP = "it sorts people into a protected group, the profiling Discreet exists to prevent"
_WHY_PROXY = "it stands in for a protected group (appearance used as a proxy)"
_WHY_INNER = "it claims to read a person's inner state or body, which a photo cannot honestly tell"

#: Refused attribute names (and common spellings) with the reason quoted in the error.
REFUSED_ATTRIBUTES: dict[str, str] = {
    "ethnicity": _WHY_GROUP,
    "ethnic_group": _WHY_GROUP,
    "minority": _WHY_GROUP,
    "race": _WHY_GROUP,
    "skin_tone": _WHY_PROXY,
    "skin_color": _WHY_PROXY,
    "skin_colour": _WHY_PROXY,
    "religion": _WHY_GROUP,
    "gender": _WHY_GROUP,
    "sex": _WHY_GROUP,
    "age": _WHY_GROUP,
    "age_range": _WHY_GROUP,
    "emotion": _WHY_INNER,
    "emotions": _WHY_INNER,
    "health": _WHY_INNER,
    "disability": _WHY_INNER,
    "sexual_orientation": _WHY_GROUP,
    "identity": _WHY_IDENTITY,
    "face_id": _WHY_IDENTITY,
    "embedding": _WHY_IDENTITY,
    "face_embedding": _WHY_IDENTITY,
    "face_search": _WHY_IDENTITY,
    "beard": _WHY_PROXY,
    "mustache": _WHY_PROXY,
    "moustache": _WHY_PROXY,
    "facial_hair": _WHY_PROXY,
    "headwear": _WHY_PROXY,
    "head_covering": _WHY_PROXY,
    "hat": _WHY_PROXY,
    "veil": _WHY_PROXY,
    "hijab": _WHY_PROXY,
    "hair": _WHY_PROXY,
    "hair_color": _WHY_PROXY,
    "hair_colour": _WHY_PROXY,
    "hairstyle": _WHY_PROXY,
    "bald": _WHY_PROXY,
    "makeup": _WHY_PROXY,
    "attractiveness": _WHY_INNER,
    "beauty": _WHY_INNER,
}


def normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def check_attributes(names: Iterable[str]) -> list[str]:
    """Return the requested attributes, normalized and deduplicated in order.

    Raises ``PolicyError`` for a refused name and ``ValidationError`` for a name that is neither
    supported nor refused; refusal wins when both kinds are present so it is never masked.
    """
    wanted = list(dict.fromkeys(normalize(n) for n in names if n.strip()))
    refused = [n for n in wanted if n in REFUSED_ATTRIBUTES]
    if refused:
        reasons = "; ".join(f"'{n}': {REFUSED_ATTRIBUTES[n]}" for n in refused)
        raise PolicyError(
            f"Refused by the {POLICY_NAME}: Discreet never infers {', '.join(refused)} ({reasons}). "
            f"Supported attributes: {', '.join(SUPPORTED_ATTRIBUTES)}."
        )
    unsupported = [n for n in wanted if n in UNSUPPORTED_ATTRIBUTES]
    if unsupported:
        raise ValidationError(
            "; ".join(UNSUPPORTED_ATTRIBUTES[n] for n in unsupported), code="attribute_not_supported"
        )
    unknown = [n for n in wanted if n not in SUPPORTED_ATTRIBUTES]
    if unknown:
        raise ValidationError(
            f"Unknown attribute(s): {', '.join(unknown)}. "
            f"Supported attributes: {', '.join(SUPPORTED_ATTRIBUTES)}.",
            code="unknown_attribute",
        )
    return wanted
