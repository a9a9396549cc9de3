"""api keys, pipeline versions, soft delete, token revocation

Revision ID: 4c8803146460
Revises: 10deb5a0214c
Create Date: 2026-11-26 20:50:10.672806
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '4c8803146460'
down_revision: str | None = '10deb5a0214c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sa.Enum('viewer', 'operator', 'admin', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('prefix')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_user_id'), ['user_id'], unique=False)

    op.create_table('pipeline_versions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('pipeline_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('spec', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['pipeline_id'], ['pipelines.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pipeline_id', 'version', name='uq_pipeline_version')
    )
    _backfill_first_versions()
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tokens_valid_after', sa.DateTime(timezone=True), nullable=True))



def _backfill_first_versions() -> None:
    """Pipelines made before versions were kept get their current spec as a version."""
    connection = op.get_bind()
    pipelines = sa.table(
        "pipelines",
        sa.column("id", sa.String), sa.column("version", sa.Integer),
        sa.column("source_id", sa.String), sa.column("spec", sa.JSON),
        sa.column("created_by", sa.String), sa.column("created_at", sa.DateTime(timezone=True)),
    )
    versions = sa.table(
        "pipeline_versions",
        sa.column("id", sa.String), sa.column("pipeline_id", sa.String),
        sa.column("version", sa.Integer), sa.column("source_id", sa.String),
        sa.column("spec", sa.JSON), sa.column("created_by", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = connection.execute(sa.select(pipelines)).mappings().all()
    if rows:
        op.bulk_insert(versions, [
            {"id": str(uuid.uuid4()), "pipeline_id": row["id"], "version": row["version"],
             "source_id": row["source_id"], "spec": row["spec"],
             "created_by": row["created_by"], "created_at": row["created_at"]}
            for row in rows
        ])


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('tokens_valid_after')

    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

    op.drop_table('pipeline_versions')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_user_id'))

    op.drop_table('api_keys')
