"""KQL hunting rules as portable SQL: run on DuckDB over Parquet with the answers Kusto would give."""

__version__ = "0.1.0"

from detector.api import run_rule, run_table  # noqa: E402

__all__ = ["__version__", "run_rule", "run_table"]
