"""Small pieces the benchmarks share: a database of their own, the app on it, timing, reports."""
