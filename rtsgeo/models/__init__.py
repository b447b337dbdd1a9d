"""Models: backbones, fusion and detectors."""
