"""The storage core: run directories, tail logs, Parquet shards and the SQLite index.

Rule: this package imports only the standard library, pyarrow, numpy and sqlite-utils. It knows
nothing of HTTP, Flask, sync or the CLI.
"""
