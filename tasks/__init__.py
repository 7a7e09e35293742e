"""Thin Prefect tasks: read inputs from the store, call `lightrnn`, write outputs to the store.

Each task names its output from the digests of its inputs and settings and returns the existing
version when the store already holds it, so a re-run anywhere skips finished work. Tasks return
small references (`Ref`), never tensors.
"""
