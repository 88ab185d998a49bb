"""The engine (noise -> model -> responses), sufficient statistics, classification images and their evaluation."""
