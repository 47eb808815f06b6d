"""The DuckDB catalog: views over the curated Parquet tables, relocatable with the results folder."""
