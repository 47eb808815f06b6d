"""De-identification to DICOM PS3.15 Annex E (Basic Profile plus options), keyed pseudonyms, PHI scan."""
