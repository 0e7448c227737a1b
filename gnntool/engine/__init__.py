"""Training, evaluation and embedding: everything that runs a model on a graph."""
