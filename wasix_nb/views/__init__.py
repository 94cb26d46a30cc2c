"""Views: DataFrames, HTML and widgets built from a process's trace and descriptor table only."""
