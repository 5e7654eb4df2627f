"""Hydra launchers that resume an interrupted espcn-lightning sweep (hydra/launcher=resumable)."""
