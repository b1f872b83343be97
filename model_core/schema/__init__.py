"""Versioned JSON schemas of the workspace format and their validation."""

from .validate import SCHEMA_VERSION, json_path, load_schema, validate

__all__ = ["SCHEMA_VERSION", "json_path", "load_schema", "validate"]
