"""The rtsgeo command line."""
