"""mlapp: the inference service.

Serves the registered model's `champion` version from MLflow, swaps in a new
champion without a restart, and predicts one record or a batch per request.
"""
