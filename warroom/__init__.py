"""warroom: a terminal war-room console for software launches."""

__version__ = "0.1.0"
