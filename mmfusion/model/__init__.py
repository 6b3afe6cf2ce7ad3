"""The assembled model and its parts: batches, the builder (spec → model), build checks and summaries."""
