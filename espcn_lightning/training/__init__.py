"""Training: the LightningModule, its callbacks and TensorBoard dashboard, run dirs that resume and
never overwrite another run, and sweep bookkeeping. Builds on ``datasets`` and ``inference``."""
