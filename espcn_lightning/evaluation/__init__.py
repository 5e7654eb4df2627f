"""Evaluation under the field's protocol: scoring an upscaler on the test sets, the published
figures it is compared with, and the results page. Builds on ``datasets`` and ``inference``."""
