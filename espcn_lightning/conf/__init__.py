"""The Hydra configs of ``train`` and ``evaluate`` (a package, so Hydra finds them installed)."""
