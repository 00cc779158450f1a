"""Write a new alembic revision by autogenerate: python scripts/new_migration.py "message" 0002"""
import sys
from alembic import command
from sqlalchemy import create_engine
from voltlab.storage.engine import alembic_config
eng = create_engine("sqlite:////tmp/voltlab_gen.db")
with eng.begin() as conn:
    cfg = alembic_config(conn)
    command.upgrade(cfg, "head")
    command.revision(cfg, message=sys.argv[1], autogenerate=True, rev_id=sys.argv[2])
