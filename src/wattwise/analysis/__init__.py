"""Pure functions and models over arrays: energy, billing, NILM, anomaly, theft, classification."""
