"""Arithmetic helpers; some branches are never exercised by the tests."""


def add(a, b):
    return a + b


def divide(a, b):
    if b == 0:
        raise ZeroDivisionError("b must not be zero")
    return a / b


def sign(x):
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


def unused(x):
    total = 0
    for i in range(x):
        total += i
    return total
