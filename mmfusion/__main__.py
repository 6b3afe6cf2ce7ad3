"""``python -m mmfusion`` (also what ``torchrun -m mmfusion`` runs)."""

from .cli import main

if __name__ == "__main__":
    main()
