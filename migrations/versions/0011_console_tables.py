"""HR console tables and exports: indexes for the people and completions tables at 100,000 employees

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

- users (tenant_id, name): the table's default order, read in index order, so a page stops at its
  last row instead of sorting the tenant's people;
- enrolments (tenant_id, due_at) and (tenant_id, completed_at): the due and completed date
  filters and their ascending sorts.
The indexes are declared with the queries that need them (reports/completions.py).
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_users_tenant_name", "users", ["tenant_id", "name"]),
    ("ix_enrolments_tenant_due", "enrolments", ["tenant_id", "due_at"]),
    ("ix_enrolments_tenant_completed", "enrolments", ["tenant_id", "completed_at"]),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
