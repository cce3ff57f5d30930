"""users by email whatever its case: an index on (tenant_id, lower(email)), which the SCIM userName
and email filters and the employee rules' email lookups use

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_tenant_lower_email", ["tenant_id", sa.text("lower(email)")])


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_tenant_lower_email")
