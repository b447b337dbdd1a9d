"""Errors raised by rtsgeo.

Every error subclasses :class:`RTSGeoError` and a builtin, so callers can catch
either the project's error or the builtin they already expect (for example a
missing scene is both a :class:`DataNotFoundError` and a ``FileNotFoundError``).
Messages name the file, band or parameter at fault and say how to fix it.
"""

__all__ = [
    'BandNotFoundError',
    'CRSMismatchError',
    'CheckpointError',
    'ConfigError',
    'CorruptLabelsError',
    'CorruptRasterError',
    'DataNotFoundError',
    'EmptyLabelsError',
    'InvalidImageryError',
    'InvalidPolygonsError',
    'LabelsOutsideImageryWarning',
    'OutputError',
    'RTSGeoError',
    'ResolutionMismatchWarning',
]


class RTSGeoError(Exception):
    """Base class of every error rtsgeo raises on purpose."""


class DataNotFoundError(RTSGeoError, FileNotFoundError):
    """A file or folder the user pointed at does not exist or holds no usable data."""


class BandNotFoundError(RTSGeoError, ValueError):
    """A band a modality needs is not in the file."""


class CRSMismatchError(RTSGeoError, ValueError):
    """Inputs that must share a grid are on different CRSs or resolutions."""


class EmptyLabelsError(RTSGeoError, ValueError):
    """A label file holds no features or no labelled pixels."""


class CorruptRasterError(RTSGeoError, OSError):
    """A raster cannot be opened or read (truncated, corrupt or not a raster)."""


class InvalidImageryError(RTSGeoError, ValueError):
    """Imagery that cannot be used as it is (NaN without nodata policy, wrong size)."""


class InvalidPolygonsError(RTSGeoError, ValueError):
    """Polygons or annotations that cannot be used (no CRS, not polygons, no score)."""


class ConfigError(RTSGeoError, ValueError):
    """A configuration value is unknown, inconsistent or out of range."""


class CheckpointError(RTSGeoError, ValueError):
    """A checkpoint is missing, unreadable or does not fit the model."""


class LabelsOutsideImageryWarning(UserWarning):
    """Some or all labels fall outside the imagery they are paired with."""


class ResolutionMismatchWarning(UserWarning):
    """A scene is mapped at a ground sampling distance far from the model's."""


class CorruptLabelsError(RTSGeoError, OSError):
    """A label file cannot be opened or read (corrupt, or not a vector format)."""


class OutputError(RTSGeoError, OSError):
    """An output cannot be written (path not writable, disk full, write failed)."""
