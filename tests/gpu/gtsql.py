"""Rows of a query on a trace through `gpu-trace sql` (on PATH), where
`events` is one row per event in every trace format: Python's sqlite3 sees
only format 2's batches. Integers come back as int, the rest as str."""
import csv
import io
import subprocess


def _value(text):
    try:
        return int(text)
    except ValueError:
        return text


def rows(trace, sql):
    out = subprocess.run(["gpu-trace", "sql", trace, sql], capture_output=True, text=True,
                         check=True).stdout
    return [tuple(_value(v) for v in r) for r in list(csv.reader(io.StringIO(out)))[1:]]
