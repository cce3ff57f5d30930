"""evidence packs: background jobs that build an auditor's ZIP, with their progress

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
