"""enrolment expiries: the status rule reads the assignment's own row (the current cycle's and the
previous cycle's certificate expiry beside completed_at), so the console filters, counts and sorts
by status without reading every assignment's results

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

_PASSED = "c.enrolment_id = enrolments.id AND c.status = 'completed'"


def upgrade():
    op.add_column('enrolments', sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('enrolments', sa.Column('previous_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE enrolments SET"
        f" expires_at = (SELECT c.expires_at FROM completions AS c WHERE {_PASSED}"
        "  AND c.cycle = enrolments.cycle ORDER BY c.id DESC LIMIT 1),"
        f" previous_expires_at = (SELECT c.expires_at FROM completions AS c WHERE {_PASSED}"
        "  AND c.cycle < enrolments.cycle ORDER BY c.id DESC LIMIT 1),"
        " started_at = COALESCE(started_at,"
        "  (SELECT MIN(p.completed_at) FROM lesson_progress AS p"
        "   WHERE p.enrolment_id = enrolments.id AND p.cycle = enrolments.cycle),"
        "  (SELECT MIN(c.completed_at) FROM completions AS c"
        "   WHERE c.enrolment_id = enrolments.id AND c.cycle = enrolments.cycle))"
    )


def downgrade():
    # Plain DROP COLUMN (SQLite has it since 3.35): a batch copy of enrolments would reflect the
    # users table it references, whose expression index SQLAlchemy cannot reflect.
    op.drop_column('enrolments', 'previous_expires_at')
    op.drop_column('enrolments', 'expires_at')
