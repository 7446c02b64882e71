"""Portrait Editor: portrait completion and extrapolation (Wu et al., IEEE TIP 2019)."""

__version__ = "0.1.0"
