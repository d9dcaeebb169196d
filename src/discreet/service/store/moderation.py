"""A tenant's moderation setup: named policies (versioned, one may be the default), picture lists
(PDQ hashes only, never pictures) and term lists; and what a scan applies from them.

Picture lists are matched in memory. Each process keeps the lists it built, per tenant, and
rebuilds a list only when its ``revision`` in the store has moved, so a scan costs one small query
however many entries the lists hold, and a change made through any process is seen by all.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from discreet.errors import Conflict, NotFound, ValidationError
from discreet.moderation import DEFAULT_POLICY, ModerationPolicy, TermEntry, TermList
from discreet.moderation.hashing import HASH_BYTES, MATCH_DISTANCE, PictureList
from discreet.service.store.database import Database
from discreet.service.store.tables import ModerationPolicyRow, PictureListEntry, PictureListRow, TermListRow

MAX_LISTS = 10
MAX_ENTRIES = 100_000
FEEDBACK_LISTS = {"pass": "feedback-pass", "block": "feedback-block"}


@dataclass(frozen=True)
class ScanModeration:
    """What a scan applies: the policy that decides and the tenant's lists."""

    policy: ModerationPolicy
    term_lists: list[TermList]
    picture_lists: list[PictureList]


def _policy(name: str, version: int, labels: dict[str, Any]) -> ModerationPolicy:
    try:
        return ModerationPolicy(name=name, version=version, labels=labels)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'policy'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(problems, code="invalid_policy") from exc


def _term_list(name: str, entries: Sequence[dict[str, Any] | TermEntry]) -> TermList:
    try:
        terms = TermList(name=name, entries=[TermEntry.model_validate(e) for e in entries])
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'terms'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(problems, code="invalid_request") from exc
    for entry in terms.entries:
        entry.compiled()  # a pattern that does not compile is refused now, not skipped at scan time
    return terms


class ModerationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lists: dict[str, dict[str, tuple[int, PictureList]]] = {}  # tenant -> list id -> (revision, list)
        self._lock = threading.Lock()

    # policies

    def create_policy(self, tenant: str, name: str, labels: dict[str, Any], is_default: bool) -> ModerationPolicyRow:
        policy = _policy(name, 1, labels)
        now = self.db.clock()
        row = ModerationPolicyRow(id=str(uuid.uuid4()), tenant=tenant, name=policy.name, version=1,
                                  labels=_labels_json(labels), is_default=is_default, created_at=now, updated_at=now)
        try:
            with self.db.session() as session:
                if is_default:
                    _clear_default(session, tenant)
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"a policy named '{name}' exists; PUT it to change it", code="name_taken") from exc
        return row

    def list_policies(self, tenant: str) -> list[ModerationPolicyRow]:
        with self.db.session() as session:
            return list(session.scalars(select(ModerationPolicyRow).where(ModerationPolicyRow.tenant == tenant)
                                        .order_by(ModerationPolicyRow.name)))

    def get_policy(self, tenant: str, name: str) -> ModerationPolicyRow:
        with self.db.session() as session:
            row = session.scalar(select(ModerationPolicyRow).where(ModerationPolicyRow.tenant == tenant,
                                                                   ModerationPolicyRow.name == name))
        if row is None:
            raise NotFound(f"no moderation policy '{name}'", code="policy_not_found")
        return row

    def update_policy(self, tenant: str, name: str, labels: dict[str, Any], is_default: bool) -> ModerationPolicyRow:
        with self.db.session() as session:
            row = session.scalar(select(ModerationPolicyRow).where(ModerationPolicyRow.tenant == tenant,
                                                                   ModerationPolicyRow.name == name).with_for_update())
            if row is None:
                raise NotFound(f"no moderation policy '{name}'", code="policy_not_found")
            _policy(name, row.version + 1, labels)
            if is_default:
                _clear_default(session, tenant)
            row.labels, row.version, row.is_default = _labels_json(labels), row.version + 1, is_default
            row.updated_at = self.db.clock()
            return row

    def delete_policy(self, tenant: str, name: str) -> None:
        with self.db.session() as session:
            done = session.execute(delete(ModerationPolicyRow).where(ModerationPolicyRow.tenant == tenant,
                                                                     ModerationPolicyRow.name == name)).rowcount
        if not done:
            raise NotFound(f"no moderation policy '{name}'", code="policy_not_found")

    def resolve_policy(self, tenant: str, wanted: bool | str) -> ModerationPolicy:
        """``True``: the tenant's default policy (the built-in one when none is marked); a name: that policy."""
        if isinstance(wanted, str):
            row = self.get_policy(tenant, wanted)
        else:
            with self.db.session() as session:
                row = session.scalar(select(ModerationPolicyRow).where(ModerationPolicyRow.tenant == tenant,
                                                                       ModerationPolicyRow.is_default.is_(True)))
            if row is None:
                return DEFAULT_POLICY
        return ModerationPolicy(name=row.name, version=row.version, labels=row.labels)

    # picture lists

    def create_list(self, tenant: str, name: str, kind: str) -> PictureListRow:
        with self.db.session() as session:
            count = session.scalar(select(func.count()).select_from(PictureListRow)
                                   .where(PictureListRow.tenant == tenant))
            if count >= MAX_LISTS:
                raise Conflict(f"a tenant has at most {MAX_LISTS} picture lists; delete one first",
                               code="too_many_lists")
        row = PictureListRow(id=str(uuid.uuid4()), tenant=tenant, name=name, kind=kind, revision=0,
                             created_at=self.db.clock())
        try:
            with self.db.session() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"a picture list named '{name}' exists", code="name_taken") from exc
        return row

    def list_lists(self, tenant: str) -> list[tuple[PictureListRow, int]]:
        """Each list with its number of entries."""
        with self.db.session() as session:
            counts = (select(PictureListEntry.list_id, func.count().label("n"))
                      .group_by(PictureListEntry.list_id).subquery())
            rows = session.execute(
                select(PictureListRow, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.list_id == PictureListRow.id)
                .where(PictureListRow.tenant == tenant).order_by(PictureListRow.created_at)
            ).all()
        return [(row, int(n)) for row, n in rows]

    def get_list(self, tenant: str, list_id: str) -> tuple[PictureListRow, int]:
        with self.db.session() as session:
            row = session.scalar(select(PictureListRow).where(PictureListRow.tenant == tenant,
                                                              PictureListRow.id == list_id))
            if row is None:
                raise NotFound(f"no picture list '{list_id}'", code="list_not_found")
            count = session.scalar(select(func.count()).select_from(PictureListEntry)
                                   .where(PictureListEntry.list_id == list_id))
        return row, int(count or 0)

    def list_named(self, tenant: str, name: str, kind: str) -> PictureListRow:
        """The list of that name, made on first use (the feedback lists)."""
        with self.db.session() as session:
            row = session.scalar(select(PictureListRow).where(PictureListRow.tenant == tenant,
                                                              PictureListRow.name == name))
        if row is not None:
            return row
        try:
            return self.create_list(tenant, name, kind)
        except Conflict as exc:
            if exc.code != "name_taken":
                raise
            return self.list_named(tenant, name, kind)  # another request made it first

    def delete_list(self, tenant: str, list_id: str) -> None:
        with self.db.session() as session:
            done = session.execute(delete(PictureListRow).where(PictureListRow.tenant == tenant,
                                                                PictureListRow.id == list_id)).rowcount
        if not done:
            raise NotFound(f"no picture list '{list_id}'", code="list_not_found")

    def add_entry(self, tenant: str, list_id: str, hashes: Sequence[bytes]) -> PictureListEntry:
        entry = PictureListEntry(id=str(uuid.uuid4()), list_id=list_id, hashes=b"".join(hashes),
                                 added_at=self.db.clock())
        with self.db.session() as session:
            # the row lock serialises additions to one list, so the limit holds under concurrent requests
            owned = session.scalar(select(PictureListRow.id).where(PictureListRow.tenant == tenant,
                                                                   PictureListRow.id == list_id).with_for_update())
            if owned is None:
                raise NotFound(f"no picture list '{list_id}'", code="list_not_found")
            count = session.scalar(select(func.count()).select_from(PictureListEntry)
                                   .where(PictureListEntry.list_id == list_id))
            if count >= MAX_ENTRIES:
                raise Conflict(f"a picture list holds at most {MAX_ENTRIES} entries", code="list_full")
            session.add(entry)
            _bump(session, list_id)
        return entry

    def delete_entry(self, tenant: str, list_id: str, entry_id: str) -> None:
        with self.db.session() as session:
            owned = session.scalar(select(PictureListRow.id).where(PictureListRow.tenant == tenant,
                                                                   PictureListRow.id == list_id))
            done = owned is not None and session.execute(
                delete(PictureListEntry).where(PictureListEntry.list_id == list_id, PictureListEntry.id == entry_id)
            ).rowcount
            if done:
                _bump(session, list_id)
        if not done:
            raise NotFound(f"no entry '{entry_id}' in picture list '{list_id}'", code="entry_not_found")

    def forget_copies(self, tenant: str, name: str, queries: list[bytes]) -> int:
        """Remove the entries of the tenant's list ``name`` that match ``queries`` (a picture's hashes
        as a scan takes them); returns how many went."""
        removed = 0
        while True:
            listed = next((lst for lst in self.picture_lists(tenant) if lst.name == name), None)
            closest = listed.closest(queries) if listed is not None else None
            if closest is None or closest[1] > MATCH_DISTANCE:
                return removed
            self.delete_entry(tenant, listed.list_id, closest[0])
            removed += 1

    def picture_lists(self, tenant: str) -> list[PictureList]:
        """The tenant's lists built for matching, rebuilt only where the store's revision moved."""
        with self.db.session() as session:
            current = session.execute(select(PictureListRow.id, PictureListRow.name, PictureListRow.kind,
                                             PictureListRow.revision).where(PictureListRow.tenant == tenant)).all()
        with self._lock:
            known = self._lists.get(tenant, {})
        fresh: dict[str, tuple[int, PictureList]] = {}
        for list_id, name, kind, revision in current:
            cached = known.get(list_id)
            if cached is None or cached[0] != revision or cached[1].name != name:
                with self.db.session() as session:
                    entries = session.execute(select(PictureListEntry.id, PictureListEntry.hashes)
                                              .where(PictureListEntry.list_id == list_id)
                                              .order_by(PictureListEntry.added_at)).all()
                cached = (revision, PictureList.of(list_id, name, kind, [
                    (entry_id, [blob[i:i + HASH_BYTES] for i in range(0, len(blob), HASH_BYTES)])
                    for entry_id, blob in entries]))
            fresh[list_id] = cached
        with self._lock:
            self._lists[tenant] = fresh  # lists deleted since are forgotten with the old mapping
        return [built for _, built in fresh.values()]

    # term lists

    def create_terms(self, tenant: str, name: str, entries: Sequence[TermEntry]) -> TermListRow:
        terms = _term_list(name, entries)
        now = self.db.clock()
        row = TermListRow(id=str(uuid.uuid4()), tenant=tenant, name=terms.name,
                          entries=[e.model_dump(mode="json") for e in terms.entries], created_at=now, updated_at=now)
        try:
            with self.db.session() as session:
                session.add(row)
        except IntegrityError as exc:
            raise Conflict(f"a term list named '{name}' exists", code="name_taken") from exc
        return row

    def list_terms(self, tenant: str) -> list[TermListRow]:
        with self.db.session() as session:
            return list(session.scalars(select(TermListRow).where(TermListRow.tenant == tenant)
                                        .order_by(TermListRow.created_at)))

    def get_terms(self, tenant: str, list_id: str) -> TermListRow:
        with self.db.session() as session:
            row = session.scalar(select(TermListRow).where(TermListRow.tenant == tenant, TermListRow.id == list_id))
        if row is None:
            raise NotFound(f"no term list '{list_id}'", code="list_not_found")
        return row

    def update_terms(self, tenant: str, list_id: str, name: str, entries: Sequence[TermEntry]) -> TermListRow:
        terms = _term_list(name, entries)
        try:
            with self.db.session() as session:
                row = session.scalar(select(TermListRow).where(TermListRow.tenant == tenant,
                                                               TermListRow.id == list_id))
                if row is None:
                    raise NotFound(f"no term list '{list_id}'", code="list_not_found")
                row.name, row.entries = terms.name, [e.model_dump(mode="json") for e in terms.entries]
                row.updated_at = self.db.clock()
        except IntegrityError as exc:
            raise Conflict(f"a term list named '{name}' exists", code="name_taken") from exc
        return row

    def delete_terms(self, tenant: str, list_id: str) -> None:
        with self.db.session() as session:
            done = session.execute(delete(TermListRow).where(TermListRow.tenant == tenant,
                                                             TermListRow.id == list_id)).rowcount
        if not done:
            raise NotFound(f"no term list '{list_id}'", code="list_not_found")

    # scans

    def for_scan(self, tenant: str, wanted: bool | str | None) -> ScanModeration | None:
        """What a scan asking ``moderation=wanted`` applies; ``None`` when it asked for none."""
        if wanted is None or wanted is False:
            return None
        return self.with_lists(tenant, self.resolve_policy(tenant, wanted))

    def with_lists(self, tenant: str, policy: ModerationPolicy) -> ScanModeration:
        """``policy`` with the tenant's term and picture lists as they are now."""
        terms = [TermList(name=row.name, entries=row.entries) for row in self.list_terms(tenant)]
        return ScanModeration(policy, terms, self.picture_lists(tenant))


def _labels_json(labels: dict[str, Any]) -> dict[str, Any]:
    return {label: dict(rule) if isinstance(rule, dict) else rule.model_dump() for label, rule in labels.items()}


def _clear_default(session: Any, tenant: str) -> None:
    session.execute(update(ModerationPolicyRow).where(ModerationPolicyRow.tenant == tenant)
                    .values(is_default=False))


def _bump(session: Any, list_id: str) -> None:
    session.execute(update(PictureListRow).where(PictureListRow.id == list_id)
                    .values(revision=PictureListRow.revision + 1))
