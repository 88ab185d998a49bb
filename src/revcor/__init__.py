"""revcor: white-noise analysis (reverse correlation) of neural networks."""
__version__ = "0.1.0"
