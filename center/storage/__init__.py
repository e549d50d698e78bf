"""The database file: connections and transactions (store), the schema (migrations), backups, the two tables
with one writer each (settings, audit) and the synthetic history."""
