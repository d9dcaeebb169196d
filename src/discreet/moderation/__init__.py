"""Moderation decisions on top of the detections: a ``pass`` / ``review`` / ``block`` suggestion for
each scene and each image, decided by a policy (``policies``), term lists matched against the text
and code payloads (``terms``), and lists of known pictures matched by perceptual hash (``hashing``).

Nothing here describes people: the labels are nudity categories, code payload kinds, term-list
matches and picture-list matches. Picture lists hold hashes of whole images only, never of face
crops, so they match copies of a picture, never the same person in another picture.
"""

from discreet.moderation.decisions import Decision, ImageListMatch, Moderation, Suggestion, decide
from discreet.moderation.policies import DEFAULT_POLICY, LabelRule, ModerationPolicy
from discreet.moderation.terms import TermEntry, TermList, TermMatch, match_terms

__all__ = [
    "DEFAULT_POLICY",
    "Decision",
    "ImageListMatch",
    "LabelRule",
    "Moderation",
    "ModerationPolicy",
    "Suggestion",
    "TermEntry",
    "TermList",
    "TermMatch",
    "decide",
    "match_terms",
]
