"""Reading and writing transcripts: JSONL (plain, gzip, stdin) and Parquet, adapters for
each input format, and the canonical tagged schema."""
