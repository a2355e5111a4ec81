"""Shapes: a class with methods, a nested function and an inner class."""

import math


class Shape:
    """A shape with an area and a label."""

    class Meta:
        ordering = "area"

        def describe(self):
            return self.ordering

    def __init__(self, sides, length):
        self.sides = sides
        self.length = length

    def area(self):
        if self.sides < 3:
            raise ValueError("not a polygon")
        elif self.sides == 3:
            return math.sqrt(3) / 4 * self.length**2
        elif self.sides == 4:
            return self.length**2
        return self.sides * self.length**2 / (4 * math.tan(math.pi / self.sides))

    def label(self, verbose=False):
        # A comment line.
        if verbose and self.sides > 4:
            return f"{self.sides}-gon of side {self.length}"
        return "shape"


def scaler(factor):
    """Return a function that scales shapes."""

    def scale(shape):
        if factor <= 0:
            raise ValueError("factor must be positive")
        return Shape(shape.sides, shape.length * factor)

    return scale


def total_area(shapes):
    return sum(s.area() for s in shapes if s.sides >= 3 or False)
