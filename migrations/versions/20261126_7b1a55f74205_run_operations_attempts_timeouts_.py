"""run operations: attempts, timeouts, concurrency, schedules, backfills

Revision ID: 7b1a55f74205
Revises: 0244f5548130
Create Date: 2026-11-26 21:25:23.167404
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '7b1a55f74205'
down_revision: str | None = '0244f5548130'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backfills',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('pipeline_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('step', sa.Enum('hour', 'day', 'week', 'month', name='backfillstep', native_enum=False, length=16), nullable=False),
    sa.Column('partitions', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['pipeline_id'], ['pipelines.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backfills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backfills_pipeline_id'), ['pipeline_id'], unique=False)

    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_attempts', sa.Integer(), nullable=False, server_default='3'))
        batch_op.add_column(sa.Column('timeout_seconds', sa.Integer(), nullable=False, server_default='21600'))
        batch_op.add_column(sa.Column('concurrency', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('schedule', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch_op.add_column(sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default='UTC'))

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('backfill_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.create_foreign_key('fk_runs_backfill_id_backfills', 'backfills', ['backfill_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_constraint('fk_runs_backfill_id_backfills', type_='foreignkey')
        batch_op.drop_column('backfill_id')
        batch_op.drop_column('scheduled_for')
        batch_op.drop_column('not_before')
        batch_op.drop_column('last_seen_at')

    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('schedule')
        batch_op.drop_column('concurrency')
        batch_op.drop_column('timeout_seconds')
        batch_op.drop_column('max_attempts')

    with op.batch_alter_table('backfills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backfills_pipeline_id'))

    op.drop_table('backfills')
