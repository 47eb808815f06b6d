"""Data checks with Great Expectations and the QC report."""
