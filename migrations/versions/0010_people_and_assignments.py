"""people and assignments: employees from HR, assignments with due dates, reminders, sign-in links

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

- users: `end_date` (leavers); an employee id names one person per tenant (a partial unique
  index; duplicates an LMS sent before are kept on the oldest row and cleared on the others);
  indexes to match people by email and to find managers.
- person_identities: a person's further LMS identities.
- enrolments (the assignments): when the cycle was assigned, why (`cycle_key`), waivers, and the
  end of a leaver's assignments; new sources (hire_rule, leaders_rule).
- reminders, sign_in_links.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_SOURCES = "('lti', 'hr', 'preview', 'demo', 'recertification', 'policy_change')"
NEW_SOURCES = "('lti', 'hr', 'hire_rule', 'leaders_rule', 'recertification', 'policy_change', 'preview', 'demo')"


def upgrade():
    op.execute(
        "UPDATE users SET employee_id = NULL WHERE employee_id IS NOT NULL AND id NOT IN "
        "(SELECT MIN(id) FROM users WHERE employee_id IS NOT NULL GROUP BY tenant_id, employee_id)"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_date", sa.Date(), nullable=True))
        batch_op.create_index("ix_users_tenant_email", ["tenant_id", "email"], unique=False)
        batch_op.create_index("ix_users_tenant_manager_email", ["tenant_id", "manager_email"], unique=False)
        batch_op.create_index(
            "uq_users_tenant_employee_id",
            ["tenant_id", "employee_id"],
            unique=True,
            postgresql_where=sa.text("employee_id IS NOT NULL"),
            sqlite_where=sa.text("employee_id IS NOT NULL"),
        )

    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cycle_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("waived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("waived_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("waiver_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_enrolments_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_enrolments_source"), sa.text(f"source IN {NEW_SOURCES}"))
    op.execute("UPDATE enrolments SET assigned_at = enrolled_at")

    op.create_table(
        "person_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_person_identities_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_person_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_identities")),
        sa.UniqueConstraint(
            "tenant_id", "issuer", "subject", name=op.f("uq_person_identities_tenant_id_issuer_subject")
        ),
    )
    with op.batch_alter_table("person_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_identities_user_id"), ["user_id"], unique=False)

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("enrolment_ids", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("recipients", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("outbox_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_reminders_tenant_id_tenants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reminders_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("user_id", "sent_on", name=op.f("uq_reminders_user_id_sent_on")),
        sa.UniqueConstraint("outbox_key", name=op.f("uq_reminders_outbox_key")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("course_slug", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sign_in_links_tenant_id_tenants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sign_in_links_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_links_token_hash")),
    )
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_links_user_id"), ["user_id"], unique=False)


def downgrade():
    op.drop_table("sign_in_links")
    op.drop_table("reminders")
    op.drop_table("person_identities")
    op.execute(f"DELETE FROM enrolments WHERE source NOT IN {OLD_SOURCES}")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_enrolments_source"), type_="check")
        batch_op.create_check_constraint(op.f("ck_enrolments_source"), sa.text(f"source IN {OLD_SOURCES}"))
        for column in ("ended_at", "waiver_reason", "waived_by", "waived_at", "cycle_key", "assigned_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_tenant_employee_id")
        batch_op.drop_index("ix_users_tenant_manager_email")
        batch_op.drop_index("ix_users_tenant_email")
        batch_op.drop_column("end_date")
