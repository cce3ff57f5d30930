"""login states in an unlogged table on PostgreSQL (ephemeral: no WAL, no flush at commit)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

A login state lives for at most ten minutes, between the LMS's login initiation and its launch.
On PostgreSQL the table is UNLOGGED: writing a state writes no WAL, so the OIDC login's INSERT
commits without waiting for the disk. After a crash of the database server the table comes back
empty (launches in flight at that moment fail with "expired" and the learner clicks again), and
standbys do not have it, which is all right: a failover loses only logins in flight. SQLite
keeps an ordinary table.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE lti_launch_state SET UNLOGGED")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE lti_launch_state SET LOGGED")
