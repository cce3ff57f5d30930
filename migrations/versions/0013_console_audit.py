"""console audit: failed staff sign-ins, preview resets, the audit log's filters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
