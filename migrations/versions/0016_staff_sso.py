"""staff single sign-on: each tenant's OpenID Connect provider, and sign-ins under way

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

- sso_connections: one per tenant (issuer, client id, the client secret encrypted with a key
  derived from SECRET_KEY, an optional allowed email domain, whether password sign-in stays on).
- sso_login_states: a started sign-in's PKCE verifier, nonce and redirect URI for ten minutes,
  keyed by a hash of the state the browser's session names; read once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sso_connections",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("provider_name", sa.String(length=80), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("allowed_email_domain", sa.String(length=255), nullable=True),
        sa.Column("password_sign_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sso_connections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_sso_connections")),
    )
    op.create_table(
        "sso_login_states",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_sso_login_states")),
    )
    with op.batch_alter_table("sso_login_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_login_states_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("sso_login_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_login_states_expires_at"))
    op.drop_table("sso_login_states")
    op.drop_table("sso_connections")
