"""Architectures, loading of every model format, layers and hooks, training, pretrained backbones."""
