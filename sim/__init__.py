"""Offline MLB for tests, demos and benchmarks: the recorded-API replay server, the corpus
reader, the snapshot simulator and its perturbations. Never imported by production code."""
