"""revcor: white-noise analysis (reverse correlation) of neural networks."""
__version__ = "0.1.0"

from .api import classification_images, save_maps  # noqa: E402

__all__ = ["classification_images", "save_maps", "__version__"]
