"""The question bank of a published course version (its snapshot, not the files on disk now)."""

from __future__ import annotations

import re
import threading

from courses.models import CourseVersion
from courses.publishing import version_by_id
from quizzes.bank_loader import Bank, parse_bank

TRANSLATION_FILE = re.compile(r"^quiz\.([a-z]{2})\.yaml$")
_cache: dict[str, Bank] = {}
_lock = threading.Lock()


def bank_for_version(version: CourseVersion) -> Bank:
    """Parsed once per content hash and process; versions are immutable, so this never goes stale."""
    bank = _cache.get(version.content_hash)
    if bank is None:
        bank = parse_bank(
            version.files["quiz.yaml"],
            translations={
                m.group(1): text
                for name, text in version.files.items()
                if (m := TRANSLATION_FILE.match(name))
            },
            known_lessons={lesson.slug for lesson in version.lessons},
            default_locale=version.manifest["default_locale"],
        )
        with _lock:
            _cache[version.content_hash] = bank
    return bank


def bank_for(version_id: int, content_hash: str) -> Bank:
    """The bank of a published version known by id and content hash: no query once parsed."""
    return _cache.get(content_hash) or bank_for_version(version_by_id(version_id))
