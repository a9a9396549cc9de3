"""The sql kind: one read-only SELECT on PostgreSQL, streamed through a server-side cursor."""
