"""The side-by-side harness behind bench/compare.py: workloads, servers, the in-process limit, the table."""
