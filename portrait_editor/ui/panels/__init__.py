"""Docks, bars, dialogs and other widgets around the canvas."""
