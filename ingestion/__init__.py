"""RCM warehouse ingestion: synthetic sources, Bronze loaders, audit log and CLI."""

__version__ = "0.1.0"
