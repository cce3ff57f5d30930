"""HR console: evidence packs. One employee's pack is downloaded at once; a filtered set's pack
is built in the background, with a page that shows its progress. Auditors may build and
download packs (they change nothing)."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from reports import evidence, progress, services
from reports.filters import BadFilter, parse_filter
from reports.views import bp
from training_app.auth.access import staff_required
from training_app.db import utcnow
from training_app.downloads import download_headers
from training_app.errors import wants_json
from training_app.extensions import db
from training_app.models import Tenant


@bp.get("/learners/<int:user_id>/evidence.zip")
@staff_required()
def employee_evidence(user_id: int):
    filename, data = evidence.employee_pack(current_user, user_id, request.remote_addr)
    return Response(data, mimetype="application/zip", headers=download_headers(filename, "evidence"))


@bp.get("/evidence")
@staff_required()
def evidence_packs():
    return _packs_page()


@bp.post("/evidence")
@staff_required()  # reads only: an auditor may ask for a pack
def request_evidence_pack():
    try:
        chosen = parse_filter(request.form)
    except BadFilter as refused:
        if wants_json():
            raise
        return _packs_page(problems=refused), 400
    pack = evidence.request_pack(current_user, chosen, request.remote_addr)
    return redirect(url_for(".evidence_pack", pack_id=pack.id), 303)


def _packs_page(problems: BadFilter | None = None) -> str:
    tenant_id = current_user.tenant_id
    return render_template(
        "reports/evidence_packs.html",
        packs=evidence.packs_of(tenant_id),
        args=request.form if request.method == "POST" else request.args,
        problems=problems,
        departments=progress.departments(tenant_id),
        courses=services.course_rows(tenant_id),
        statuses=progress.STATUS_LABELS,
    )


@bp.get("/evidence/<int:pack_id>")
@staff_required()
def evidence_pack(pack_id: int):
    pack = evidence.tenant_pack(current_user.tenant_id, pack_id)
    return render_template("reports/evidence_pack.html", pack=pack)


@bp.get("/evidence/<int:pack_id>.zip")
@staff_required()
def evidence_pack_download(pack_id: int):
    pack = evidence.tenant_pack(current_user.tenant_id, pack_id)
    path = evidence.pack_file(pack)
    evidence.record_download(current_user, pack, request.remote_addr)
    tenant = db.session.get(Tenant, current_user.tenant_id)
    filename = evidence.download_name(tenant, "set", pack.finished_at or utcnow())
    response = send_file(path, mimetype="application/zip", conditional=False, etag=False)
    response.headers.update(download_headers(filename, "evidence"))
    return response
