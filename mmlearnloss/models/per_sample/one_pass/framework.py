"""Checks that a model computes exactly the framework's loss that a one-pass path reads."""


def is_framework_method(obj, base_name: str, *names: str) -> bool:
    """Whether ``obj``'s class derives from the class ``base_name`` and takes each method of
    ``names`` from it unchanged (a subclass that overrides one computes something else)."""
    base = next((k for k in type(obj).__mro__ if k.__name__ == base_name), None)
    return base is not None and all(
        getattr(type(obj), name, None) is getattr(base, name, None) for name in names)
