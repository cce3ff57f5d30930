import shutil
from pathlib import Path

import pytest

from courses.content import CONTENT_ROOT
from tests import factories
from training_app.extensions import db

ORIENTATION = "social-media-orientation"


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the built-in course content, to break or change."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, root, ignore=shutil.ignore_patterns("README.md"))
    return root


@pytest.fixture
def world(app, published):
    """Two tenants; an English and a Spanish learner in acme, one learner in globex."""
    with app.app_context():
        acme, globex = factories.tenant("acme"), factories.tenant("globex", "Globex")
        people = {
            "ada": factories.learner(acme, "Ada Lovelace"),
            "maria": factories.learner(acme, "María José Fernández", locale="es-MX", department="Marketing"),
            "otto": factories.learner(globex, "Otto Globex"),
        }
        factories.staff(acme, "hr@acme.example")
        db.session.commit()
        return {name: user.id for name, user in people.items()} | {"acme": acme.id, "globex": globex.id}
