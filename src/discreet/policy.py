"""The privacy policy, in one place: which face attributes Discreet returns and which it refuses,
and which scenes it refuses to offer at all (recognising people, reading licence plates).

Discreet descends from a cloud API that was found offering a face attribute telling whether a
person belongs to a persecuted ethnic minority. Discreet infers nothing about who a person is or
what group they belong to, and nothing that stands in for it. Every entry point (library, CLI,
HTTP API, worker) calls :func:`check_attributes` and :func:`check_scene_names` before any model
runs, so every refusal is the same ``PolicyError``, with the code ``attribute_refused_by_policy``
(an attribute) or ``scene_refused_by_policy`` (a scene).

Names are refused exactly (``REFUSED_ATTRIBUTES``) and by the words in them (``REFUSED_WORDS``),
so that ``is_uighur``, ``uyghur_probability`` or ``Nationality`` are refused like ``ethnicity``
rather than passing as merely unknown. Licence plates are found to be hidden, never read: a
plate's text identifies a vehicle and so its owner, so plate reading and lookup are refused.
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
_WHY_BELIEF = "it sorts people by political or religious belief, the profiling Discreet exists to prevent"
_WHY_RECOGNITION = "it recognises who a person is (a 'sensitive' or famous person is still a person)"
_WHY_PLATE = "reading a licence plate identifies a vehicle and its owner; Discreet finds plates only to hide them"

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
    "sface": _WHY_RECOGNITION,  # the seed cloud API's "sensitive face" scene
    "sensitive_person": _WHY_RECOGNITION,
    "sensitive_face": _WHY_RECOGNITION,
    "public_figure": _WHY_RECOGNITION,
    "face_recognition": _WHY_IDENTITY,
    "face_match": _WHY_IDENTITY,
    "plate_number": _WHY_PLATE,
    "plate_text": _WHY_PLATE,
    "license_plate_number": _WHY_PLATE,
    "licence_plate_number": _WHY_PLATE,
    "vehicle_owner": _WHY_PLATE,
}

#: Words that refuse any name containing them (as a ``_``-separated word, or the start of one for
#: words of five letters or more: ``ethnic`` refuses ``ethnicity``, ``nation`` refuses ``nationality``).
REFUSED_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ["ethnic", "race", "racial", "minority", "ancestry", "ancestor", "caste", "tribe", "tribal",
         "nation", "citizenship", "uyghur", "uighur", "uigur", "weiwuer", "tibet", "rohingya",
         "kurd", "kurdish", "roma", "romani", "jewish", "jew", "arab", "kazakh", "hui"],
        _WHY_GROUP,
    ),
    **dict.fromkeys(
        ["relig", "muslim", "islam", "christian", "hindu", "sikh", "buddhis", "falun",
         "political", "politic", "party", "ideology", "opinion", "vote", "voter"],
        _WHY_BELIEF,
    ),
    **dict.fromkeys(["gender", "sex", "sexual", "age"], _WHY_GROUP),
    **dict.fromkeys(["celebrit", "famous", "vip", "sface"], _WHY_RECOGNITION),
    **dict.fromkeys(["alpr", "anpr", "lpr"], _WHY_PLATE),
}

#: A name holding one of ``PLATE_WORDS`` and one of ``READING_WORDS`` asks to read a plate.
PLATE_WORDS = frozenset({"plate", "plates", "license", "licence", "registration", "numberplate"})
READING_WORDS = frozenset({"number", "text", "ocr", "read", "reading", "recognition", "lookup", "owner", "characters"})


def normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def refusal(name: str) -> str | None:
    """Why the policy refuses ``name`` (normalized), or ``None`` when it does not."""
    if name in REFUSED_ATTRIBUTES:
        return REFUSED_ATTRIBUTES[name]
    words = [word for word in name.split("_") if word]
    for word in words:
        for refused, why in REFUSED_WORDS.items():
            if word == refused or (len(refused) >= 5 and word.startswith(refused)):
                return why
    if PLATE_WORDS & set(words) and READING_WORDS & set(words):
        return _WHY_PLATE
    return None


def _raise_refused(names: list[str], kind: str, code: str, offered: Iterable[str]) -> None:
    refused = {n: why for n in names if (why := refusal(n)) is not None}
    if refused:
        reasons = "; ".join(f"'{n}': {why}" for n, why in refused.items())
        raise PolicyError(
            f"Refused by the {POLICY_NAME}: Discreet never offers {', '.join(refused)} ({reasons}). "
            f"Supported {kind}: {', '.join(offered)}.",
            code=code,
        )


def check_scene_names(names: Iterable[str], offered: Iterable[str]) -> None:
    """Raise ``PolicyError`` (``scene_refused_by_policy``) when a requested scene is refused."""
    _raise_refused([normalize(n) for n in names if n.strip()], "scenes", "scene_refused_by_policy", offered)


def check_attributes(names: Iterable[str]) -> list[str]:
    """Return the requested attributes, normalized and deduplicated in order.

    Raises ``PolicyError`` for a refused name and ``ValidationError`` for a name that is neither
    supported nor refused; refusal wins when both kinds are present so it is never masked.
    """
    wanted = list(dict.fromkeys(normalize(n) for n in names if n.strip()))
    _raise_refused(wanted, "attributes", "attribute_refused_by_policy", SUPPORTED_ATTRIBUTES)
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
