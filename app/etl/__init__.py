"""The ETL engine: read a source in batches, transform with Polars, load a warehouse."""
