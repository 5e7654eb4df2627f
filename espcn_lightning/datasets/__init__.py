"""The data layer: the benchmark datasets by name (catalogue, manifest), fetching and importing
them, and the LightningDataModule that cuts training patches. Builds on ``core``."""
