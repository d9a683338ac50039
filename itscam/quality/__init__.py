"""Data quality: a Great Expectations 1.x bridge and the expectation suites of each table."""
