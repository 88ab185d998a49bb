"""revcor: white-noise analysis (reverse correlation) of neural networks.

Subpackages, each importing only from those before it: ``base`` (artifacts, config, logs,
devices), ``data``, ``models``, ``noise``, ``core`` (engine, reductions, maps), ``analyses``,
``pipeline`` and ``report`` (the workflow's steps, figures and tables); ``api`` and ``cli``
on top.
"""

__version__ = "0.1.0"
__all__ = ["classification_images", "save_maps", "__version__"]


def __getattr__(name: str):
    """``revcor.classification_images`` and ``revcor.save_maps``, imported on first use."""
    if name in ("classification_images", "save_maps"):
        from revcor import api

        return getattr(api, name)
    raise AttributeError(f"module 'revcor' has no attribute {name!r}")
