"""Callboard's core: catalog model, sync, store, dispatcher and app wiring (no chat SDKs)."""

__version__ = "0.1.0"
