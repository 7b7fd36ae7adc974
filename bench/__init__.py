"""Benchmark harness: covid-etl against a plain pandas implementation of the same job."""
