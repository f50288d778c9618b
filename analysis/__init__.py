"""Reading sweep results back: Pareto fronts, tables and plots from the Parquet files."""
