"""`python -m ui`: the same as `rag serve`."""

from rag.cli import main

if __name__ == "__main__":
    import sys

    raise SystemExit(main(["serve", *sys.argv[1:]]))
