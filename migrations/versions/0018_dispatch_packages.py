"""dispatch packages: SCORM 1.2 / 2004 and cmi5 zips an LMS imports, their launch nonces and launches

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

- dispatch_packages: one per LMS and course; the secret encrypted (dispatch.package_secrets), the
  previous one during its grace period after a rotation, revocation.
- dispatch_nonces: a launch request's nonce, until its timestamp can no longer be accepted.
- dispatch_launches: verified launches (person, enrolment, the page's token and the one-time
  sign-in link, both hashed; the result the LMS took).
- enrolments: the source `dispatch`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OLD_SOURCES = "('lti', 'hr', 'hire_rule', 'leaders_rule', 'recertification', 'policy_change', 'preview', 'demo')"
NEW_SOURCES = (
    "('lti', 'dispatch', 'hr', 'hire_rule', 'leaders_rule', 'recertification', 'policy_change', "
    "'preview', 'demo')"
)


def upgrade():
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_enrolments_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_enrolments_source"), sa.text(f"source IN {NEW_SOURCES}"))

    op.create_table(
        "dispatch_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("dispatch_id", sa.String(length=40), nullable=False),
        sa.Column("course_slug", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("lms_name", sa.String(length=100), nullable=False),
        sa.Column("opens_in", sa.String(length=10), nullable=False),
        sa.Column("learner_id_is", sa.String(length=12), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("secret_generation", sa.Integer(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.CheckConstraint("format IN ('scorm12', 'scorm2004', 'cmi5')", name=op.f("ck_dispatch_packages_format")),
        sa.CheckConstraint("opens_in IN ('frame', 'window')", name=op.f("ck_dispatch_packages_opens_in")),
        sa.CheckConstraint(
            "learner_id_is IN ('employee_id', 'email', 'lms_user')", name=op.f("ck_dispatch_packages_learner_id_is")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispatch_packages_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_packages")),
        sa.UniqueConstraint("dispatch_id", name=op.f("uq_dispatch_packages_dispatch_id")),
    )
    with op.batch_alter_table("dispatch_packages", schema=None) as batch_op:
        batch_op.create_index("ix_dispatch_packages_tenant_created", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "dispatch_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["dispatch_packages.id"],
            name=op.f("fk_dispatch_nonces_package_id_dispatch_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_nonces")),
        sa.UniqueConstraint("package_id", "nonce", name=op.f("uq_dispatch_nonces_package_id_nonce")),
    )
    with op.batch_alter_table("dispatch_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispatch_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "dispatch_launches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("lms_learner_id", sa.String(length=255), nullable=False),
        sa.Column("registration", sa.String(length=100), nullable=True),
        sa.Column("frame_origins", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("enter_hash", sa.String(length=64), nullable=True),
        sa.Column("enter_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_completion_id", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispatch_launches_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["dispatch_packages.id"],
            name=op.f("fk_dispatch_launches_package_id_dispatch_packages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_dispatch_launches_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["enrolments.id"],
            name=op.f("fk_dispatch_launches_enrolment_id_enrolments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reported_completion_id"],
            ["completions.id"],
            name=op.f("fk_dispatch_launches_reported_completion_id_completions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_launches")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dispatch_launches_token_hash")),
        sa.UniqueConstraint("enter_hash", name=op.f("uq_dispatch_launches_enter_hash")),
    )
    with op.batch_alter_table("dispatch_launches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispatch_launches_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_dispatch_launches_package_user", ["package_id", "user_id"], unique=False)


def downgrade():
    op.drop_table("dispatch_launches")
    op.drop_table("dispatch_nonces")
    op.drop_table("dispatch_packages")
    op.execute("DELETE FROM enrolments WHERE source = 'dispatch'")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_enrolments_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_enrolments_source"), sa.text(f"source IN {OLD_SOURCES}"))
