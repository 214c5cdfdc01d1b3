"""streamser: real-time speech emotion recognition.

Importing the package loads numpy and the standard library only; heavier
dependencies are imported by the modules that need them.
"""

__version__ = "0.1.0"
