"""Foundations every other part uses: atomic HDF5 artifacts, config schema, logs, code versions, devices, the paper's numbers."""
