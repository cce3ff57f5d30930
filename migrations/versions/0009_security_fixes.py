"""security fixes: staff sessions end at sign-out, staff emails unique per tenant, shared rate-limit
counters, and preview certificates no longer verify

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

- `staff_accounts.session_version`: part of the signed session's identity; raised at sign-out,
  deactivation, a new role or a new password, so a session signed before stops working.
- A staff email is unique within its tenant, not across tenants: creating a colleague's account
  no longer tells whether another organisation has someone with that address.
- `rate_limit_counters`: Flask-Limiter's counters when no Redis is configured, shared by every
  worker and instance (training_app.rate_limits).
- `audit_checkpoints`: where each tenant's audit chain was last verified in full, so the audit
  log page checks only the events after it.
- Certificates that staff previews earned before previews stopped issuing them are revoked, so
  none of them verifies as valid.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PREVIEW_REASON = "A staff preview, not a real completion"


def upgrade():
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_staff_accounts_email", type_="unique")
        batch_op.create_unique_constraint("uq_staff_accounts_tenant_email", ["tenant_id", "email"])
        batch_op.create_index("ix_staff_accounts_email", ["email"], unique=False)

    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counters")),
    )
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_counters_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "audit_checkpoints",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("problem_found_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_checkpoints_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_checkpoints")),
    )

    op.execute(
        sa.text(
            "UPDATE certificates SET revoked_at = CURRENT_TIMESTAMP, revoked_reason = :reason "
            "WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE issuer = 'preview')"
        ).bindparams(reason=PREVIEW_REASON)
    )


def downgrade():
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("rate_limit_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_counters_expires_at"))
    op.drop_table("rate_limit_counters")
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_accounts_email")
        batch_op.drop_constraint("uq_staff_accounts_tenant_email", type_="unique")
        batch_op.create_unique_constraint("uq_staff_accounts_email", ["email"])
        batch_op.drop_column("session_version")
