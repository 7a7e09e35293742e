"""Prefect flows: compositions of tasks, and the `lightrnn` command line."""
