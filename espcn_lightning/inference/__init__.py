"""Inference: engines that run a network (eager, bf16, fp16, ONNX Runtime, int8) and the shipped
pretrained models. Builds on ``core``."""
