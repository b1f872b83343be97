"""Placeholder."""
def to_workspace(spec):
    raise NotImplementedError
