"""HR console: SCORM / cmi5 dispatch packages for LMSs that import a package instead of LTI 1.3
(LMS connections › Packages): create, download, rotate the secret, revoke. Changes are hr_admin's
and audited; a download hands out the secret, so it is audited too and only hr_admin may take one."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from courses.publishing import published_courses
from dispatch import archive, packages
from dispatch.models import FORMAT_LABELS
from reports.forms import DispatchPackageForm, RotateSecretForm
from reports.views import bp, current_tenant
from training_app.auth.access import staff_required
from training_app.db import utcnow
from training_app.downloads import download_headers
from training_app.errors import DomainError
from training_app.extensions import db


def _page(form: DispatchPackageForm | None = None, status: int = 200):
    form = form or DispatchPackageForm(formdata=None)
    _fill_course_choices(form)
    return render_template(
        "reports/lms_packages.html",
        packages=packages.packages_of(current_user.tenant_id),
        form=form,
        rotate_form=RotateSecretForm(formdata=None),
        format_labels=FORMAT_LABELS,
        course_titles={course.slug: course.title for course, _version in published_courses()},
        now=utcnow(),
    ), status


def _fill_course_choices(form: DispatchPackageForm) -> None:
    form.course.choices = [
        SelectChoice(course.slug, course.title) for course, _version in published_courses()
    ]


@bp.get("/lms/packages")
@staff_required()
def lms_packages():
    return _page()


@bp.post("/lms/packages")
@staff_required(role="hr_admin")
def lms_package_create():
    form = DispatchPackageForm()
    _fill_course_choices(form)
    if not form.validate_on_submit():
        return _page(form, status=422)
    choice = packages.PackageChoice(
        course_slug=form.course.data,
        format=form.format.data,
        lms_name=form.lms_name.data,
        opens_in=form.opens_in.data,
        learner_id_is=form.learner_id_is.data,
    )
    try:
        package = packages.create_package(
            current_tenant(), choice, actor=_actor(), ip_address=request.remote_addr
        )
    except DomainError as exc:
        for name, problem in exc.errors.items():
            getattr(form, name).errors.append(problem)
        return _page(form, status=exc.status)
    flash(
        gettext(
            "The package for %(lms)s is ready: download it and upload it to the LMS.", lms=package.lms_name
        ),
        "success",
    )
    return redirect(url_for(".lms_packages", _anchor=f"package-{package.id}"), 303)


@bp.get("/lms/packages/<int:package_id>/download")
@staff_required(role="hr_admin")
def lms_package_download(package_id: int):
    package = packages.tenant_package(current_user.tenant_id, package_id)
    packages.record_download(package, actor=_actor(), ip_address=request.remote_addr)
    return Response(
        archive.build_package(package),
        mimetype="application/zip",
        headers=download_headers(packages.download_name(package), "postwise-package"),
    )


@bp.post("/lms/packages/<int:package_id>/rotate")
@staff_required(role="hr_admin")
def lms_package_rotate(package_id: int):
    package = packages.tenant_package(current_user.tenant_id, package_id)
    form = RotateSecretForm()
    if not form.validate_on_submit():
        flash(" ".join(error for errors in form.errors.values() for error in errors), "error")
        return redirect(url_for(".lms_packages"), 303)
    grace = timedelta(days=form.grace_days.data)
    packages.rotate_secret(package, actor=_actor(), grace=grace, ip_address=request.remote_addr)
    flash(
        gettext(
            "New secret for %(lms)s. Download the package again and upload it to the LMS; the old one "
            "keeps working for %(days)d day(s).",
            lms=package.lms_name,
            days=grace.days,
        ),
        "success",
    )
    return redirect(url_for(".lms_packages", _anchor=f"package-{package.id}"), 303)


@bp.post("/lms/packages/<int:package_id>/revoke")
@staff_required(role="hr_admin")
def lms_package_revoke(package_id: int):
    package = packages.tenant_package(current_user.tenant_id, package_id)
    packages.revoke(package, actor=_actor(), ip_address=request.remote_addr)
    db.session.flush()
    flash(
        gettext(
            "The package for %(lms)s is revoked: it no longer opens the training, under any secret.",
            lms=package.lms_name,
        ),
        "success",
    )
    return redirect(url_for(".lms_packages"), 303)


def _actor() -> str:
    return f"staff:{current_user.id}"
