"""GET /api/v1/courses: the courses and their published versions (the same for every tenant)."""

from __future__ import annotations

from api import queries, schemas
from api.core import PREFIX, ApiBlueprint, documented_errors, secure

blp = secure(
    ApiBlueprint(
        "Courses",
        __name__,
        url_prefix=f"{PREFIX}/courses",
        description="Courses and their policy versions (a material version reassigns the training).",
    )
)


@blp.route("")
@blp.response(200, schemas.CourseList)
@documented_errors(blp, 401, 403, 429)
def list_courses():
    """List courses, each with its latest published version"""
    return {"data": queries.courses()}


@blp.route("/<string:slug>")
@blp.response(200, schemas.Course)
@documented_errors(blp, 401, 403, 404, 429)
def get_course(slug: str):
    """Get a course"""
    return queries.course_json(queries.course(slug))


@blp.route("/<string:slug>/versions")
@blp.response(200, schemas.VersionList)
@documented_errors(blp, 401, 403, 404, 429)
def list_versions(slug: str):
    """List a course's published versions, oldest first"""
    return {"data": queries.versions(slug)}
