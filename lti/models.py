"""LTI registrations, the tool's keys, launch state shared by every worker, and grade targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from training_app.db import utcnow
from training_app.extensions import db


class Platform(db.Model):
    """An LMS registration: one issuer + client id, owned by a tenant."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    key_set_url: Mapped[str] = mapped_column(String(1000))
    token_audience: Mapped[str | None] = mapped_column(String(1000))  # when it differs from the token URL
    product_family: Mapped[str | None] = mapped_column(String(100))  # moodle, canvas... (from registration)
    registration: Mapped[dict[str, Any] | None]  # dynamic registration answer, kept for support
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def deployment_ids(self) -> list[str]:
        return sorted(d.deployment_id for d in self.deployments)


class Deployment(db.Model):
    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="deployments")


class ToolKey(db.Model):
    """A tenant's RSA signing key for LTI messages (client assertions, deep linking responses).

    Retired keys stay in the JWKS until every token signed with them has expired.
    """

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class LaunchState(db.Model):
    """OIDC login state (and other short-lived launch data) visible to every worker and instance."""

    __tablename__ = "lti_launch_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[dict[str, Any]]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ResourceLink(db.Model):
    """A placement of a course in an LMS course (context), with its gradebook column."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255))
    context_title: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str | None] = mapped_column(String(500))
    course_slug: Mapped[str] = mapped_column(String(100))
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    ags_scopes: Mapped[list[Any]] = mapped_column(default=list)
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    platform: Mapped[Platform] = relationship()


class GradeTarget(db.Model):
    """Where a learner's result for an enrolment goes back: their launch's resource link."""

    __tablename__ = "lti_grade_targets"
    __table_args__ = (UniqueConstraint("enrolment_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_links.id", ondelete="CASCADE"))
    lti_user_id: Mapped[str] = mapped_column(String(255))
    last_launch_at: Mapped[datetime] = mapped_column(default=utcnow)

    resource_link: Mapped[ResourceLink] = relationship()


class AccessToken(db.Model):
    """OAuth2 access tokens for AGS/NRPS, cached until shortly before they expire (all workers)."""

    __tablename__ = "lti_access_tokens"
    __table_args__ = (Index("ix_lti_access_tokens_lookup", "platform_id", "scopes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    scopes: Mapped[str] = mapped_column(String(1000))
    token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]


class RosterCache(db.Model):
    """The NRPS membership of an LMS course, fetched for the instructor report."""

    __tablename__ = "lti_roster_cache"
    __table_args__ = (UniqueConstraint("resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(ForeignKey("lti_resource_links.id", ondelete="CASCADE"))
    members: Mapped[list[Any]]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
