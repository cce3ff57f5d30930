"""The zip an LMS administrator uploads: a manifest (imsmanifest.xml for SCORM 1.2 / 2004 4th
edition, cmi5.xml for cmi5), the launch page and its script. It names the course by slug, never
a version: a new version of the course needs no new package.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from flask import render_template
from flask_babel import force_locale, gettext

from courses.publishing import course_by_slug
from dispatch import package_secrets
from dispatch.models import DispatchPackage
from training_app.urls import base_url

SCRIPT = Path(__file__).with_name("package_files") / "postwise-dispatch.js"
LAUNCH_PAGE, SCRIPT_NAME = "index.html", "postwise-dispatch.js"
MANIFESTS = {"scorm12": "imsmanifest.xml", "scorm2004": "imsmanifest.xml", "cmi5": "cmi5.xml"}
POLL_SECONDS = 5
# Fixed member times: the same package (and secret) always gives the same bytes.
_MEMBER_TIME = (2026, 1, 1, 0, 0, 0)


def build_package(package: DispatchPackage) -> bytes:
    """The package's zip, with its current secret."""
    _course, version = course_by_slug(package.course_slug)
    texts = _course_texts(version.manifest)
    default_locale = version.manifest["default_locale"]
    files = [LAUNCH_PAGE, SCRIPT_NAME]
    context = {"package": package, "title": texts[0][1], "files": files}
    members = {
        MANIFESTS[package.format]: _manifest(package, context, texts, version.manifest),
        LAUNCH_PAGE: _launch_page(package, context["title"], default_locale),
        SCRIPT_NAME: SCRIPT.read_text(encoding="utf-8"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            member = zipfile.ZipInfo(name, date_time=_MEMBER_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            archive.writestr(member, text.encode("utf-8"))
    return buffer.getvalue()


def _course_texts(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(locale, title, summary), the course's default locale first."""
    default = manifest["default_locale"]
    texts = [(default, manifest["title"], _one_line(manifest.get("summary", "")))]
    for locale, translated in sorted(manifest.get("translations", {}).items()):
        title = translated.get("title") or manifest["title"]
        texts.append((locale, title, _one_line(translated.get("summary") or manifest.get("summary", ""))))
    return texts


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _manifest(package: DispatchPackage, context: dict[str, Any], texts, manifest: dict[str, Any]) -> str:
    if package.format == "cmi5":
        base = f"{base_url()}/dispatch/{package.dispatch_id}"
        return render_template(
            "dispatch/package/cmi5.xml",
            **context,
            course_iri=f"{base}/course",
            au_iri=f"{base}/au",
            titles=[(locale, title) for locale, title, _summary in texts],
            summaries=[(locale, summary or title) for locale, title, summary in texts],
        )
    return render_template(f"dispatch/package/imsmanifest_{package.format}.xml", **context)


def _launch_page(package: DispatchPackage, title: str, locale: str) -> str:
    config = {
        "server": base_url(),
        "dispatchId": package.dispatch_id,
        "secret": package_secrets.decrypt(package.secret_ciphertext),
        "format": package.format,
        "opensIn": package.opens_in,
        "pollSeconds": POLL_SECONDS,
    }
    with force_locale(locale):
        return render_template(
            "dispatch/package/index.html",
            config=config,
            title=title,
            locale=locale,
            connecting=gettext("Connecting to the training…"),
            needs_javascript=gettext(
                "This course needs JavaScript. Turn it on in your browser, or ask your LMS administrator."
            ),
        )
