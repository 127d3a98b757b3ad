"""Helpers behind the course notebooks.

Every notebook imports from here; nothing runs at import time (TensorFlow is imported lazily
by the modules that need it).
"""

__version__ = "0.1.0"
