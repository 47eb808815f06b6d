"""Fixed, versioned, patient-level splits."""
