"""Signal physics, independent of any classifier: bearing defect frequencies, envelope spectra, ISO vibration zones."""
