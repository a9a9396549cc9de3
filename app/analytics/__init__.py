"""Analytics: datasets over loaded tables, queried through DuckDB, cached and scoped."""
