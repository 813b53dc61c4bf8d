"""One folder per algorithm."""
