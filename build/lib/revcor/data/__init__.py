"""Datasets from every source, stored as uint8 HDF5 with provenance."""
