"""Database triggers that make the audit log append-only, whatever writes to the database.

UPDATE is refused on both databases. DELETE is refused on PostgreSQL with a row trigger; TRUNCATE (an
operator's deliberate act, and how test databases are emptied) stays possible. SQLite has no TRUNCATE,
so a DELETE trigger there would also stop test databases from being emptied; the model refuses
deletes instead.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION governance_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (%% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER governance_auditentry_append_only
    BEFORE UPDATE OR DELETE ON governance_auditentry
    FOR EACH ROW EXECUTE FUNCTION governance_audit_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS governance_auditentry_append_only ON governance_auditentry;
DROP FUNCTION IF EXISTS governance_audit_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER governance_auditentry_no_update BEFORE UPDATE ON governance_auditentry
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only (UPDATE refused)'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS governance_auditentry_no_update;"


def up(apps, schema_editor):
    sql = {"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql)


def down(apps, schema_editor):
    sql = {"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_audit_log")]

    operations = [migrations.RunPython(up, down)]
