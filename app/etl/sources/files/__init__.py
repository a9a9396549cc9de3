"""The file kinds (csv, json, ndjson, parquet, xlsx): local roots or S3, a format each."""
