"""The PySide6 editor: all Qt code lives here; it reaches the pipeline only through ``engine.Engine``."""
