"""The database reads and writes of the API (SQLAlchemy queries): one module per table
group. Functions take a ``Session``; they raise ``vlmhb.backend.errors`` exceptions,
never HTTP ones."""
