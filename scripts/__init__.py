"""Lab scripts beside the library: screenshots, browser helpers for tests, the wheel check."""
