"""A Hydra sweeper whose jobs are workers on one Optuna study (``sweep=optuna``)."""
