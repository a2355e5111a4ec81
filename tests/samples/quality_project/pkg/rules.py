'''Rules with a long decision chain, to get a high-complexity block.

This module docstring spans
several lines.
'''


def classify(value, strict=False):
    """Classify a value (rank C or worse on purpose)."""
    if value is None:
        return "none"
    elif isinstance(value, bool):
        return "bool"
    elif isinstance(value, int) and value < 0:
        return "negative"
    elif isinstance(value, int) and value == 0:
        return "zero"
    elif isinstance(value, int):
        return "positive"
    elif isinstance(value, float) and value != value:
        return "nan"
    elif isinstance(value, float):
        return "float"
    elif isinstance(value, str) and not value:
        return "empty"
    elif isinstance(value, str):
        return "text"
    elif isinstance(value, (list, tuple)) and strict:
        return "sequence"
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                return "mapping"
        return "record"
    try:
        iter(value)
    except TypeError:
        return "object"
    return "iterable"


lookup = {  # a multi-line statement
    "a": 1,
    "b": 2,
}
square = lambda x: x * x  # noqa: E731
