"""The run directory: its layout, atomic files, lock, checkpoints, frozen-weight references and loading."""
