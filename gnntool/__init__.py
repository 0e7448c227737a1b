"""gnntool: train GCN and GraphSAGE models from a YAML config."""

__version__ = "0.1.0"
