"""lesson titles (overviews need not load every lesson's HTML); the attestation an attempt started with

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("titles", JSON_TYPE, nullable=True))
    lessons = sa.table("lessons", sa.column("id", sa.Integer), sa.column("texts", JSON_TYPE),
                       sa.column("titles", JSON_TYPE))
    connection = op.get_bind()
    for lesson_id, texts in connection.execute(sa.select(lessons.c.id, lessons.c.texts)).all():
        texts = json.loads(texts) if isinstance(texts, str) else texts
        titles = {locale: text["title"] for locale, text in texts.items()}
        connection.execute(sa.update(lessons).where(lessons.c.id == lesson_id).values(titles=titles))
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.alter_column("titles", existing_type=JSON_TYPE, nullable=False)
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attestation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_quiz_attempts_attestation_id_attestations"), "attestations", ["attestation_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("quiz_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_quiz_attempts_attestation_id_attestations"), type_="foreignkey")
        batch_op.drop_column("attestation_id")
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.drop_column("titles")
