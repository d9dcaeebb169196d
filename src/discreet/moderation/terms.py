"""Term lists: words, phrases or patterns checked against the text scene's lines and code payloads.

Words and phrases match case-insensitively on word boundaries; patterns are regular expressions
run by the ``regex`` package with a time limit, so a tenant's pattern cannot stall a scan.
"""

from __future__ import annotations

from typing import Literal

import regex
from pydantic import Field, field_validator

from discreet.errors import ValidationError
from discreet.schema import Strict

Action = Literal["block", "review", "pass"]
#: seconds one pattern may take on one line of text before it counts as no match
PATTERN_SECONDS = 0.05


class TermEntry(Strict):
    term: str = Field(min_length=1, max_length=200)
    kind: Literal["word", "phrase", "pattern"] = "word"
    action: Action = "block"

    @field_validator("term")
    @classmethod
    def _not_blank(cls, term: str) -> str:
        if not term.strip():
            raise ValueError("a term needs a visible character")
        return term

    def compiled(self) -> regex.Pattern:
        if self.kind == "pattern":
            try:
                return regex.compile(self.term, regex.IGNORECASE)
            except regex.error as exc:
                raise ValidationError(f"pattern {self.term!r} is not a regular expression: {exc}",
                                      code="invalid_term_pattern") from exc
        return regex.compile(rf"(?<!\w){regex.escape(self.term.strip())}(?!\w)", regex.IGNORECASE)


class TermList(Strict):
    name: str = Field(min_length=1, max_length=100)
    entries: list[TermEntry] = Field(max_length=10_000)


class TermMatch(Strict):
    list: str
    term: str
    action: Action
    scene: Literal["text", "codes"] = Field(description="where it matched: a text line or a code payload")
    index: int = Field(description="the line's or code's index in that scene's result")
    start: int = Field(description="the matching span in that text, in characters")
    end: int
    text: str = Field(description="the matching characters")


def match_terms(texts: dict[str, list[str]], lists: list[TermList]) -> list[TermMatch]:
    """Every match of the lists' entries in ``texts`` (``{"text": lines, "codes": payloads}``)."""
    matches = []
    for term_list in lists:
        for entry in term_list.entries:
            pattern = entry.compiled()
            for scene, values in texts.items():
                for index, value in enumerate(values):
                    try:
                        found = pattern.finditer(value, timeout=PATTERN_SECONDS)
                        spans = [(m.start(), m.end()) for m in found]
                    except TimeoutError:
                        continue
                    matches.extend(
                        TermMatch(list=term_list.name, term=entry.term, action=entry.action, scene=scene,  # type: ignore[arg-type]
                                  index=index, start=start, end=end, text=value[start:end])
                        for start, end in spans
                    )
    return matches
