"""Radiomics with pyradiomics on curated images and their regions of interest."""
