"""Conversion: mammograms to 16-bit PNG, DCE series to one NIfTI per phase, lesion masks."""
