"""rtsgeo: map retrogressive thaw slumps as polygons with a multimodal detector.

Importing the package is cheap: subpackages load torch, rasterio and friends only
when they are used.
"""

__version__ = '0.1.0.dev0'

__all__ = ['__version__']
