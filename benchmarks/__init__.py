"""Speed figures side by side: ``python -m benchmarks`` (``make bench``); never installed."""
