"""Dispatch packages for tenant acme, built through the services HR's console and CLI use."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask

from dispatch import archive, packages
from dispatch.models import DispatchPackage
from tests import factories
from training_app.auth.services import find_tenant
from training_app.extensions import db

ORIENTATION = "social-media-orientation"
CONFIG = re.compile(r'<script type="application/json" id="postwise-config">(.*?)</script>', re.S)


@dataclass
class BuiltPackage:
    id: int
    dispatch_id: str
    secret: str
    files: dict[str, bytes]
    zip_bytes: bytes

    @property
    def config(self) -> dict:
        match = CONFIG.search(self.files["index.html"].decode())
        assert match, "the launch page carries its configuration"
        return json.loads(match.group(1))


def unpack(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive_file:
        return {name: archive_file.read(name) for name in archive_file.namelist()}


@pytest.fixture
def acme(app: Flask, published: None) -> str:
    """Courses published; tenant acme with an HR admin."""
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        db.session.commit()
    return "acme"


@pytest.fixture
def make_package(app: Flask, acme: str) -> Callable[..., BuiltPackage]:
    def make(package_format: str = "scorm12", *, course: str = ORIENTATION, **choices: str) -> BuiltPackage:
        with app.app_context(), app.test_request_context():
            choice = packages.PackageChoice(course, package_format, **choices)
            package = packages.create_package(find_tenant("acme"), choice, actor="test")
            zip_bytes = archive.build_package(package)
            db.session.commit()
            built = BuiltPackage(package.id, package.dispatch_id, "", unpack(zip_bytes), zip_bytes)
        built.secret = built.config["secret"]
        return built

    return make


def package_row(app: Flask, package_id: int) -> DispatchPackage:
    with app.app_context():
        return db.session.get(DispatchPackage, package_id)
