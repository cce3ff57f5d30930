"""The question bank of a published course version (its snapshot, not the files on disk now)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from courses.models import CourseVersion
from quizzes.bank import Bank, load_bank

_cache: dict[str, Bank] = {}
_lock = threading.Lock()


def bank_for_version(version: CourseVersion) -> Bank:
    """Parsed once per content hash and process; versions are immutable, so this never goes stale."""
    bank = _cache.get(version.content_hash)
    if bank is None:
        bank = bank_from_files(version.files, {lesson.slug for lesson in version.lessons})
        with _lock:
            _cache[version.content_hash] = bank
    return bank


def bank_from_files(files: dict[str, str], lessons: set[str]) -> Bank:
    with tempfile.TemporaryDirectory(prefix="quiz-bank-") as folder:
        for name, text in files.items():
            if name.startswith("quiz"):
                (Path(folder) / name).write_text(text, encoding="utf-8")
        return load_bank(Path(folder) / "quiz.yaml", known_lessons=lessons)
