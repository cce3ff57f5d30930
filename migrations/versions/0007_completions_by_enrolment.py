"""completions by enrolment and cycle (the overview's latest result, the once-per-cycle check)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.create_index("ix_completions_enrolment_cycle", ["enrolment_id", "cycle"], unique=False)


def downgrade():
    with op.batch_alter_table("completions", schema=None) as batch_op:
        batch_op.drop_index("ix_completions_enrolment_cycle")
