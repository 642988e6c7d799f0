from toefl_access import parse, render


def test_package_imports() -> None:
    assert callable(parse) and callable(render)
