"""Keyed per-chunk noise: random streams, white noise, and the structured generators (Gabor-PCA, autoencoder, VAE) with their fits."""
